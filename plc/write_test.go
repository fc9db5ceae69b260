package plc_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

type auditLog struct {
	mu   sync.Mutex
	recs []plc.AuditRecord
	err  error
}

func (a *auditLog) WriteAudit(ctx context.Context, r plc.AuditRecord) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return a.err
}

func (a *auditLog) last(t *testing.T) plc.AuditRecord {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recs) == 0 {
		t.Fatal("no audit record")
	}
	return a.recs[len(a.recs)-1]
}

func writeDB() *plc.PointDB {
	return testDB(nil,
		plc.Tag{Name: "SP", Type: plc.TypeInt, Access: plc.ReadWrite,
			Scaling: &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200},
			Limits:  plc.Limits{Min: f64(200), Max: f64(1100)}},
		plc.Tag{Name: "Speed", Type: plc.TypeReal, Access: plc.ReadWrite},
		plc.Tag{Name: "Count", Type: plc.TypeInt, Access: plc.ReadWrite},
		plc.Tag{Name: "Temp", Type: plc.TypeInt},
		plc.Tag{Name: "Run", Type: plc.TypeBool, Access: plc.ReadWrite},
		plc.Tag{Name: "Batch", Type: plc.StringType(8), Access: plc.ReadWrite},
		plc.Tag{Name: "Wide", Type: plc.TypeInt, Access: plc.ReadWrite,
			Scaling: &plc.Scaling{RawMin: 0, RawMax: 10, EngMin: 0, EngMax: 1}},
	)
}

func newWriter(t *testing.T, cfg plc.WriterConfig, opts ...plc.WriterOption) (*plc.Writer, *plctest.Driver, *auditLog) {
	t.Helper()
	drv := plctest.New()
	log := &auditLog{}
	clk := clock.NewFake(t0)
	w, err := plc.NewWriter(cfg, writeDB(), map[string]plc.Driver{"d": drv}, log, append([]plc.WriterOption{plc.WithWriterClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w, drv, log
}

func TestWriterScalesChecksAndAudits(t *testing.T) {
	w, drv, log := newWriter(t, plc.WriterConfig{})
	drv.Set("SP", plc.IntValue(plc.Int, 6912)) // 300 °C
	ctx := plc.WithPrincipal(context.Background(), plc.Principal{Who: "alice", Tenant: "acme"})
	if err := w.WriteValue(ctx, "SP", plc.FloatValue(plc.LReal, 600)); err != nil {
		t.Fatal(err)
	}
	if v, _ := drv.Get("SP"); !v.Equal(plc.IntValue(plc.Int, 13824)) {
		t.Fatalf("raw in device = %v %v, want INT 13824", v.Kind(), v)
	}
	rec := log.last(t)
	if rec.Principal != (plc.Principal{Who: "alice", Tenant: "acme"}) || rec.Tag != "SP" || !rec.Time.Equal(t0) ||
		rec.Old.String() != "300" || !rec.OldQuality.IsGood() || rec.New.String() != "600" || rec.Raw.String() != "13824" ||
		rec.Err != nil || rec.Result() != "ok" || rec.ReadBack.IsValid() {
		t.Fatalf("audit = %+v", rec)
	}

	if err := w.WriteText(ctx, "Count", " 42 "); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(ctx, "Run", []byte("true")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(ctx, "Batch", []byte(`"B-17"`)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteJSON(ctx, "Wide", []byte(`0.05`)); err != nil { // raw 0.5 rounds to 1
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"Count": "42", "Run": "true", "Batch": "B-17", "Wide": "1"} {
		if v, _ := drv.Get(addr); v.String() != want {
			t.Errorf("%s = %v, want %s", addr, v, want)
		}
	}
	if rec := log.last(t); rec.Requested != "0.05" || rec.New.String() != "0.05" || rec.Raw.String() != "1" {
		t.Errorf("audit of a JSON write = %+v", rec)
	}
}

func TestWriterRefusesBeforeTheDriver(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *plc.Writer) error
		check func(t *testing.T, err error)
		msg   string
	}{
		{"unknown tag", func(w *plc.Writer) error { return w.WriteText(context.Background(), "Nope", "1") },
			func(t *testing.T, err error) {
				if !errors.Is(err, plc.ErrUnknownTag) {
					t.Fatal(err)
				}
			}, `plc: unknown tag "Nope"`},
		{"read-only", func(w *plc.Writer) error { return w.WriteValue(context.Background(), "Temp", plc.IntValue(plc.Int, 1)) },
			func(t *testing.T, err error) {
				if !errors.Is(err, plc.ErrReadOnly) {
					t.Fatal(err)
				}
			}, `plc: tag is read-only: "Temp"`},
		{"above max", func(w *plc.Writer) error { return w.WriteText(context.Background(), "SP", "1100.5") },
			func(t *testing.T, err error) {
				var le *plc.LimitError
				if !errors.As(err, &le) || le.Tag != "SP" || le.Value != 1100.5 || *le.Max != 1100 {
					t.Fatal(err)
				}
			}, `plc: write "SP": 1100.5 is above the maximum 1100`},
		{"below min", func(w *plc.Writer) error {
			return w.WriteValue(context.Background(), "SP", plc.IntValue(plc.DInt, 100))
		},
			func(t *testing.T, err error) {
				var le *plc.LimitError
				if !errors.As(err, &le) || le.Value != 100 {
					t.Fatal(err)
				}
			}, `plc: write "SP": 100 is below the minimum 200`},
		{"fraction into INT", func(w *plc.Writer) error { return w.WriteText(context.Background(), "Count", "1.5") },
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) || ce.Reason != "not a whole number" {
					t.Fatal(err)
				}
			}, `plc: cannot convert STRING 1.5 to INT: not a whole number`},
		{"overflow INT", func(w *plc.Writer) error {
			return w.WriteValue(context.Background(), "Count", plc.IntValue(plc.DInt, 70000))
		},
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) {
					t.Fatal(err)
				}
			}, `plc: cannot convert DINT 70000 to INT: out of range`},
		{"raw overflow after scaling", func(w *plc.Writer) error { return w.WriteText(context.Background(), "Wide", "3300") },
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) {
					t.Fatal(err)
				}
			}, `plc: cannot convert LREAL 3300 to INT: raw value 33000 out of range`},
		{"NaN", func(w *plc.Writer) error {
			return w.WriteValue(context.Background(), "Speed", plc.FloatValue(plc.LReal, math.NaN()))
		},
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) || ce.Reason != "not a finite number" {
					t.Fatal(err)
				}
			}, `plc: cannot convert LREAL NaN to REAL: not a finite number`},
		{"text into BOOL", func(w *plc.Writer) error { return w.WriteJSON(context.Background(), "Run", []byte(`"on"`)) },
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) {
					t.Fatal(err)
				}
			}, `plc: cannot convert STRING "on" to BOOL: a string for a BOOL`},
		{"string too long", func(w *plc.Writer) error { return w.WriteText(context.Background(), "Batch", "123456789") },
			func(t *testing.T, err error) {
				var ce *plc.ConversionError
				if !errors.As(err, &ce) {
					t.Fatal(err)
				}
			}, `plc: cannot convert STRING 123456789 to STRING[8]: 9 bytes exceed STRING[8]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, drv, log := newWriter(t, plc.WriterConfig{})
			err := tt.write(w)
			tt.check(t, err)
			if err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err.Error(), tt.msg)
			}
			if n := len(drv.Writes()); n != 0 {
				t.Fatalf("%d writes reached the driver", n)
			}
			if drv.Reads() != 0 {
				t.Fatal("a refused write read the device")
			}
			rec := log.last(t)
			if rec.Err != err || rec.Raw.IsValid() || rec.Old.IsValid() {
				t.Fatalf("audit = %+v", rec)
			}
		})
	}
}

func TestWriterVerifiesByReadingBack(t *testing.T) {
	w, drv, log := newWriter(t, plc.WriterConfig{Verify: true, Tolerance: 0.5})
	ctx := context.Background()
	if err := w.WriteText(ctx, "Speed", "100"); err != nil {
		t.Fatal(err)
	}
	if rec := log.last(t); rec.ReadBack.String() != "100" {
		t.Fatalf("audit = %+v", rec)
	}

	// The device moves the value after the write (a clamp, another
	// writer): the read-back is the third Read (old value, write, read-back).
	reads := 0
	drift := func(v float64) func(context.Context) error {
		reads = 0
		return func(context.Context) error {
			reads++
			if reads == 2 {
				drv.Set("Speed", plc.FloatValue(plc.Real, v))
			}
			return nil
		}
	}
	drv.SetReadHook(drift(100.25)) // within the tolerance
	if err := w.WriteText(ctx, "Speed", "100"); err != nil {
		t.Fatalf("within tolerance: %v", err)
	}
	drv.SetReadHook(drift(99))
	err := w.WriteText(ctx, "Speed", "100")
	var ve *plc.VerifyError
	if !errors.Is(err, plc.ErrVerifyMismatch) || !errors.As(err, &ve) || ve.Read.String() != "99" || ve.Wrote.String() != "100" {
		t.Fatalf("mismatch: %v", err)
	}
	if err.Error() != `plc: write "Speed": wrote 100, read back 99 (tolerance 0.5)` {
		t.Errorf("message %q", err.Error())
	}
	if rec := log.last(t); rec.Err != err || rec.ReadBack.String() != "99" {
		t.Fatalf("audit = %+v", rec)
	}
	drv.SetReadHook(nil)

	// A read-back of bad quality fails verification.
	drv.SetReadHook(func(context.Context) error {
		reads++
		if reads == 2 {
			drv.SetQuality("Speed", plc.Bad(plc.ReasonDeviceError, "object does not exist"))
		}
		return nil
	})
	reads = 0
	err = w.WriteText(ctx, "Speed", "100")
	if !errors.Is(err, plc.ErrVerifyMismatch) || !strings.Contains(err.Error(), "read-back failed: bad (device error: object does not exist)") {
		t.Fatalf("bad read-back: %v", err)
	}
}

func TestWriterDriverFailures(t *testing.T) {
	w, drv, log := newWriter(t, plc.WriterConfig{})
	ctx := context.Background()
	itemErr := errors.New("item rejected")
	drv.SetWriteError("Count", itemErr)
	if err := w.WriteText(ctx, "Count", "1"); !errors.Is(err, itemErr) {
		t.Fatalf("item error: %v", err)
	}
	if rec := log.last(t); !errors.Is(rec.Err, itemErr) || rec.Raw.String() != "1" {
		t.Fatalf("audit = %+v", rec)
	}
	drv.Fail(errors.New("link down"))
	err := w.WriteText(ctx, "Speed", "1")
	if !errors.Is(err, plc.ErrNotConnected) {
		t.Fatalf("device down: %v", err)
	}
	if rec := log.last(t); rec.OldQuality.Reason != plc.ReasonCommFailure {
		t.Fatalf("old quality while down = %v", rec.OldQuality)
	}
}

func TestWriterAuditFailureAndCancelledRequests(t *testing.T) {
	w, drv, log := newWriter(t, plc.WriterConfig{})
	log.err = errors.New("disk full")
	err := w.WriteText(context.Background(), "Count", "5")
	if !errors.Is(err, plc.ErrAudit) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("audit failure: %v", err)
	}
	if v, _ := drv.Get("Count"); v.String() != "5" {
		t.Fatal("the write itself did not happen")
	}
	log.err = nil

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = w.WriteText(ctx, "Count", "6")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if rec := log.last(t); !errors.Is(rec.Err, context.Canceled) {
		t.Fatalf("the cancelled request was not audited: %+v", rec)
	}
}

func TestWriterAuthorizer(t *testing.T) {
	errForbidden := errors.New("tenant may not write this tag")
	w, drv, log := newWriter(t, plc.WriterConfig{}, plc.WithAuthorizer(func(ctx context.Context, tag *plc.Tag) error {
		if p, _ := plc.PrincipalFrom(ctx); p.Tenant != "acme" {
			return errForbidden
		}
		return nil
	}))
	if err := w.WriteText(plc.WithPrincipal(context.Background(), plc.Principal{Who: "eve", Tenant: "other"}), "Count", "1"); !errors.Is(err, errForbidden) {
		t.Fatalf("other tenant: %v", err)
	}
	if len(drv.Writes()) != 0 || log.last(t).Principal.Who != "eve" {
		t.Fatal("refused write reached the driver or was not audited")
	}
	if err := w.WriteText(plc.WithPrincipal(context.Background(), plc.Principal{Who: "bob", Tenant: "acme"}), "Count", "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := plc.PrincipalFrom(context.Background()); ok {
		t.Fatal("principal from an empty context")
	}
}

func TestNewWriterChecks(t *testing.T) {
	audit := plc.AuditFunc(func(context.Context, plc.AuditRecord) error { return nil })
	if _, err := plc.NewWriter(plc.WriterConfig{Tolerance: -1}, writeDB(), nil, audit); err == nil || !strings.Contains(err.Error(), "tolerance") {
		t.Errorf("negative tolerance: %v", err)
	}
	if _, err := plc.NewWriter(plc.WriterConfig{}, writeDB(), map[string]plc.Driver{"d": plctest.New()}, nil); err == nil {
		t.Error("nil audit sink accepted")
	}
	if _, err := plc.NewWriter(plc.WriterConfig{}, writeDB(), nil, audit); !errors.Is(err, plc.ErrNoDriver) {
		t.Errorf("no driver: %v", err)
	}
	if _, err := plc.NewWriter(plc.WriterConfig{}, writeDB(), map[string]plc.Driver{"d": nil}, audit); !errors.Is(err, plc.ErrNoDriver) {
		t.Errorf("nil driver: %v", err)
	}
	if _, err := plc.NewWriter(plc.WriterConfig{}, nil, nil, audit); err == nil || !strings.Contains(err.Error(), "point database") {
		t.Errorf("nil database: %v", err)
	}
}

func TestWriterConcurrentRequests(t *testing.T) {
	w, drv, log := newWriter(t, plc.WriterConfig{Verify: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := []string{"Count", "Speed"}[i%2]
			for j := range 20 {
				if err := w.WriteValue(context.Background(), tag, plc.IntValue(plc.Int, int64(j))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	log.mu.Lock()
	n := len(log.recs)
	log.mu.Unlock()
	if n != 160 || len(drv.Writes()) != 160 {
		t.Fatalf("%d audit records, %d writes; want 160 each", n, len(drv.Writes()))
	}
}

// noAnswer is a driver whose Write answers no result at all.
type noAnswer struct{ *plctest.Driver }

func (noAnswer) Write(context.Context, []plc.WriteItem) []error { return nil }

func TestWriterSurvivesADriverThatAnswersNoResult(t *testing.T) {
	log := &auditLog{}
	w, err := plc.NewWriter(plc.WriterConfig{}, writeDB(), map[string]plc.Driver{"d": noAnswer{plctest.New()}}, log)
	if err != nil {
		t.Fatal(err)
	}
	err = w.WriteText(context.Background(), "Count", "1")
	if err == nil || !strings.Contains(err.Error(), `device "d" answered 0 results for 1 item`) {
		t.Fatalf("err = %v, want one naming the device and the missing result", err)
	}
	if rec := log.last(t); rec.Err == nil {
		t.Fatalf("audit = %+v, want the failure", rec)
	}
}

func TestWriterSharedTags(t *testing.T) {
	db := writeDB()
	drv := plctest.New()
	w, err := plc.NewWriter(plc.WriterConfig{Verify: true}, db, map[string]plc.Driver{"d": drv}, &auditLog{}, plc.WithSharedTags())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteText(context.Background(), "Count", "3"); err != nil {
		t.Fatal(err)
	}
	if v, ok := drv.Get("Count"); !ok || v.String() != "3" {
		t.Fatalf("Count = %v %v, want 3", v, ok)
	}
	// The writer reads the database in place: a tag made read-only there
	// is refused, and one made writable after NewWriter (not prepared) is
	// refused too rather than crashing.
	for i := range db.Tags {
		db.Tags[i].Access = 1 - db.Tags[i].Access
	}
	for i := range db.Tags {
		if err := w.WriteText(context.Background(), db.Tags[i].Name, "1"); !errors.Is(err, plc.ErrReadOnly) {
			t.Errorf("write %q after flipping its access: %v, want ErrReadOnly", db.Tags[i].Name, err)
		}
	}
}

func TestWriterKeepsTheTagsItWasMadeWith(t *testing.T) {
	db := writeDB()
	drv := plctest.New()
	w, err := plc.NewWriter(plc.WriterConfig{}, db, map[string]plc.Driver{"d": drv}, &auditLog{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range db.Tags { // later changes to the database do not reach the writer
		db.Tags[i].Access = plc.ReadOnly
		db.Tags[i].Address = "elsewhere"
	}
	if err := w.WriteText(context.Background(), "Count", "3"); err != nil {
		t.Fatal(err)
	}
	if v, ok := drv.Get("Count"); !ok || v.String() != "3" {
		t.Fatalf("Count = %v %v, want 3 written at the original address", v, ok)
	}
}
