package plc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kiln-iot/kiln/config"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
)

// Write errors. Every error a Writer returns for a refused request wraps
// one of these or is a *ConversionError, *LimitError or *VerifyError.
var (
	// ErrUnknownTag: the request names no tag of the point database.
	ErrUnknownTag = errors.New("plc: unknown tag")
	// ErrReadOnly: the tag's access is read-only.
	ErrReadOnly = errors.New("plc: tag is read-only")
	// ErrVerifyMismatch: the value read back differs from the one written
	// (a *VerifyError is Is this).
	ErrVerifyMismatch = errors.New("plc: read-back does not match the written value")
	// ErrAudit: the write's audit record could not be stored. It is
	// joined to the write's own result, which it does not undo.
	ErrAudit = errors.New("plc: audit record not stored")
)

// LimitError reports a write outside a tag's limits.
type LimitError struct {
	Tag   string
	Value float64 // the requested engineering value
	// Min and Max are the tag's limits; the one broken is not nil.
	Min, Max *float64
}

// Error names the tag, the value and the limit it breaks.
func (e *LimitError) Error() string {
	v := strconv.FormatFloat(e.Value, 'g', -1, 64)
	if e.Min != nil && e.Value < *e.Min {
		return fmt.Sprintf("plc: write %q: %s is below the minimum %g", e.Tag, v, *e.Min)
	}
	return fmt.Sprintf("plc: write %q: %s is above the maximum %g", e.Tag, v, *e.Max)
}

// VerifyError reports a read-back that does not match the value written.
// errors.Is(err, ErrVerifyMismatch) holds for it.
type VerifyError struct {
	Tag string
	// Wrote is the value written and Read the one read back, both in
	// engineering units; Read is invalid when the read-back failed, and
	// Quality says why.
	Wrote, Read Value
	Quality     Quality
	Tolerance   float64
}

// Error names the tag and what was written and read back, or why the
// read-back failed.
func (e *VerifyError) Error() string {
	if !e.Quality.IsGood() {
		return fmt.Sprintf("plc: write %q: read-back failed: %v", e.Tag, e.Quality)
	}
	return fmt.Sprintf("plc: write %q: wrote %v, read back %v (tolerance %g)", e.Tag, e.Wrote, e.Read, e.Tolerance)
}

// Is makes errors.Is(err, ErrVerifyMismatch) true.
func (e *VerifyError) Is(target error) bool { return target == ErrVerifyMismatch }

// Principal is who makes a request and for which tenant, as the layer that
// authenticated it says. Writers put it into audit records.
type Principal struct {
	// Who names the user or service, e.g. "alice@plant" or "ai-tuner".
	Who string
	// Tenant is the tenant the request acts for.
	Tenant string
}

type principalKey struct{}

// WithPrincipal returns a context carrying p, for the calls of one
// request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of a request's context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// AuditRecord is the record of one write request, made whether it
// succeeded or not.
type AuditRecord struct {
	// Time is when the request was taken.
	Time      time.Time
	Principal Principal
	Tag       string
	// Requested is the value as given, for requests made with text or
	// JSON; empty for WriteValue.
	Requested string
	// New is the requested value in engineering units; invalid when the
	// request could not be parsed.
	New Value
	// Raw is the raw value sent to the driver; invalid when the request
	// was refused before that.
	Raw Value
	// Old and OldQuality are the tag's value (engineering units) just
	// before the write; read only for requests that passed every check.
	Old        Value
	OldQuality Quality
	// ReadBack is the value read back for verification (engineering
	// units); invalid without verification.
	ReadBack Value
	// Err is the write's result: nil for success.
	Err error
}

// Result returns "ok" or the error's text.
func (r *AuditRecord) Result() string {
	if r.Err == nil {
		return "ok"
	}
	return r.Err.Error()
}

// AuditSink stores audit records durably. A Writer calls it once per write
// request, after the write, with a context that is not cancelled with the
// request's.
type AuditSink interface {
	WriteAudit(ctx context.Context, rec AuditRecord) error
}

// AuditFunc adapts a function to AuditSink.
type AuditFunc func(ctx context.Context, rec AuditRecord) error

// WriteAudit calls f.
func (f AuditFunc) WriteAudit(ctx context.Context, rec AuditRecord) error { return f(ctx, rec) }

// WriterConfig are the settings of a Writer. The zero value writes without
// verifying.
type WriterConfig struct {
	// Verify reads every written tag back and fails the write with a
	// *VerifyError when the value differs.
	Verify bool `yaml:"verify"`
	// Tolerance is the largest difference in engineering units between
	// the value written and the value read back that still verifies;
	// 0 demands equality. Use it for tags the device itself moves.
	Tolerance float64 `yaml:"tolerance"`
}

// Validate reports a bad setting as a *config.FieldError.
func (c WriterConfig) Validate() error {
	var p config.Problems
	if math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0) || c.Tolerance < 0 {
		p.Add("tolerance", "%g is not a finite number >= 0", c.Tolerance)
	}
	return p.Err()
}

// WriterOption sets a code-only setting of a Writer.
type WriterOption func(*writerOptions)

type writerOptions struct {
	clock     clock.Clock
	logger    *zap.Logger
	authorize func(ctx context.Context, t *Tag) error
	shared    bool
}

// WithSharedTags makes NewWriter use the point database's tag definitions
// in place instead of copying them, which matters for large point
// databases that a Poller reads too. db must then not change while the
// Writer is in use.
func WithSharedTags() WriterOption { return func(o *writerOptions) { o.shared = true } }

// WithWriterClock sets the clock that stamps audit records (default the
// system clock).
func WithWriterClock(c clock.Clock) WriterOption { return func(o *writerOptions) { o.clock = c } }

// WithWriterLogger sets the logger (default none).
func WithWriterLogger(l *zap.Logger) WriterOption { return func(o *writerOptions) { o.logger = l } }

// WithAuthorizer installs a check run on every request after the tag is
// found and before anything else, typically the tenant's rights to the tag
// (PrincipalFrom(ctx) says who asks). An error refuses the write and is
// returned as is.
func WithAuthorizer(fn func(ctx context.Context, t *Tag) error) WriterOption {
	return func(o *writerOptions) { o.authorize = fn }
}

// Writer writes tags with every check done before anything reaches the
// device: the tag exists and is writable, the value converts to the tag's
// engineering type without loss and lies within its limits, and it maps
// back to a raw value of the tag's type (Tag.ToRaw). With Verify it reads
// the value back. Every request, refused or not, produces one AuditRecord.
// A Writer is safe for concurrent use.
type Writer struct {
	cfg     WriterConfig
	drivers map[string]Driver
	defs    []Tag            // the tags: db.Tags itself or one copy of it
	index   map[string]int32 // name → position in defs
	rw      map[int32]*writeTag
	audit   AuditSink
	o       writerOptions
	clk     clock.Clock
	log     *zap.Logger
}

// NewWriter returns a Writer for the tags of db as they are now (later
// changes to db are not seen, unless WithSharedTags), writing through the
// drivers of their devices and recording to audit.
func NewWriter(cfg WriterConfig, db *PointDB, drivers map[string]Driver, audit AuditSink, opts ...WriterOption) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, errors.New("plc: NewWriter needs a point database")
	}
	if audit == nil {
		return nil, errors.New("plc: NewWriter needs an audit sink")
	}
	if len(db.Tags) > math.MaxInt32 {
		return nil, fmt.Errorf("plc: NewWriter: %d tags, at most %d", len(db.Tags), math.MaxInt32)
	}
	w := &Writer{cfg: cfg, drivers: drivers, audit: audit, index: make(map[string]int32, len(db.Tags)), rw: map[int32]*writeTag{}}
	for _, opt := range opts {
		opt(&w.o)
	}
	w.defs = db.Tags
	if !w.o.shared {
		w.defs = slices.Clone(db.Tags) // later changes to db do not reach the writer
	}
	w.clk = clock.Or(w.o.clock)
	w.log = w.o.logger
	if w.log == nil {
		w.log = zap.NewNop()
	}
	for i := range w.defs {
		t := &w.defs[i]
		w.index[t.Name] = int32(i)
		if !t.Writable() {
			continue
		}
		wt := &writeTag{tag: t}
		w.rw[int32(i)] = wt
		drv, ok := drivers[t.Device]
		if !ok || drv == nil {
			return nil, fmt.Errorf("%w %q (tag %q)", ErrNoDriver, t.Device, t.Name)
		}
		r, err := drv.Prepare([]Tag{*t})
		if err != nil {
			return nil, fmt.Errorf("plc: prepare tag %q: %w", t.Name, err)
		}
		wt.reader = r
	}
	return w, nil
}

// writeTag is a tag as the Writer knows it. mu serialises the writes to
// one tag, so that its old value, write and read-back belong together
// and its Reader is used by one request at a time.
type writeTag struct {
	tag    *Tag
	reader Reader // nil for a read-only tag
	mu     sync.Mutex
}

// WriteValue writes v, in the tag's engineering units, to the named tag.
func (w *Writer) WriteValue(ctx context.Context, tag string, v Value) error {
	return w.write(ctx, tag, "", func(*Tag) (Value, error) { return v, nil })
}

// WriteText writes a value typed as text ("21.5", "true", "0x10"), parsed
// with ParseValue for the tag's engineering type.
func (w *Writer) WriteText(ctx context.Context, tag, text string) error {
	return w.write(ctx, tag, text, func(t *Tag) (Value, error) { return ParseValue(text, t.EngType()) })
}

// WriteJSON writes a value given as one JSON value (21.5, true, "batch 7"),
// parsed with ParseJSONValue for the tag's engineering type.
func (w *Writer) WriteJSON(ctx context.Context, tag string, data []byte) error {
	return w.write(ctx, tag, string(data), func(t *Tag) (Value, error) { return ParseJSONValue(data, t.EngType()) })
}

func (w *Writer) write(ctx context.Context, name, requested string, value func(*Tag) (Value, error)) error {
	rec := AuditRecord{Time: w.clk.Now(), Tag: name, Requested: requested}
	rec.Principal, _ = PrincipalFrom(ctx)
	rec.Err = w.do(ctx, name, value, &rec)
	if err := w.audit.WriteAudit(context.WithoutCancel(ctx), rec); err != nil {
		w.log.Error("audit record not stored", zap.String("tag", name), zap.Error(err))
		return errors.Join(rec.Err, fmt.Errorf("%w: %w", ErrAudit, err))
	}
	return rec.Err
}

func (w *Writer) do(ctx context.Context, name string, value func(*Tag) (Value, error), rec *AuditRecord) error {
	i, ok := w.index[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTag, name)
	}
	t := &w.defs[i]
	if w.o.authorize != nil {
		if err := w.o.authorize(ctx, t); err != nil {
			return err
		}
	}
	wt := w.rw[i] // nil for a tag that was read-only in NewWriter
	if !t.Writable() || wt == nil {
		return fmt.Errorf("%w: %q", ErrReadOnly, name)
	}
	r := wt.reader
	v, err := value(t)
	if err != nil {
		return err
	}
	eng, err := Convert(v, t.EngType())
	if err != nil {
		return err
	}
	rec.New = eng
	if eng.kind.IsFloat() {
		if f := eng.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return &ConversionError{Value: v, To: t.EngType(), Reason: "not a finite number"}
		}
	}
	if eng.kind.IsNumeric() {
		f := eng.Float()
		lim := t.Limits
		if (lim.Min != nil && f < *lim.Min) || (lim.Max != nil && f > *lim.Max) {
			return &LimitError{Tag: name, Value: f, Min: lim.Min, Max: lim.Max}
		}
	}
	raw, err := t.ToRaw(eng)
	if err != nil {
		return err
	}

	wt.mu.Lock()
	defer wt.mu.Unlock()
	buf := make([]Sample, 1)
	_ = r.Read(ctx, buf) // a failed read shows in the quality
	rec.Old, rec.OldQuality = t.ToEngineering(buf[0].Value), buf[0].Quality

	rec.Raw = raw
	errs := w.drivers[t.Device].Write(ctx, []WriteItem{{Tag: *t, Value: raw}})
	if len(errs) != 1 {
		return fmt.Errorf("plc: write %q: driver of device %q answered %d results for 1 item", name, t.Device, len(errs))
	}
	if err := errs[0]; err != nil {
		return fmt.Errorf("plc: write %q: %w", name, err)
	}
	if !w.cfg.Verify {
		return nil
	}
	buf[0] = Sample{}
	_ = r.Read(ctx, buf)
	wrote := t.ToEngineering(raw)
	got := t.ToEngineering(buf[0].Value)
	rec.ReadBack = got
	if !buf[0].Quality.IsGood() || !matches(wrote, got, w.cfg.Tolerance) {
		return &VerifyError{Tag: name, Wrote: wrote, Read: got, Quality: buf[0].Quality, Tolerance: w.cfg.Tolerance}
	}
	return nil
}

// matches compares a written and a read-back value.
func matches(wrote, got Value, tol float64) bool {
	if wrote.kind.IsNumeric() && got.kind.IsNumeric() {
		return wrote.Distance(got) <= tol
	}
	return wrote.Equal(got)
}
