package s7_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/reconnect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startSim(t *testing.T, cfg s7sim.Config) *s7sim.Server {
	t.Helper()
	srv, err := s7sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// fastCfg reconnects quickly, so tests of outages do not wait long.
func fastCfg() s7.Config {
	return s7.Config{
		Timeout: 2 * time.Second,
		Retry:   backoff.Config{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
}

func open(t *testing.T, addr string, cfg s7.Config, opts ...s7.Option) *s7.Driver {
	t.Helper()
	cfg.Endpoint = addr
	d, err := s7.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func tag(name, addr string, typ string) plc.Tag {
	t := plc.Tag{Name: name, Address: addr, Access: plc.ReadWrite}
	if typ != "" {
		dt, err := plc.ParseDataType(typ)
		if err != nil {
			panic(err)
		}
		t.Type = dt
	}
	return t
}

func read(t *testing.T, d plc.Driver, tags ...plc.Tag) []plc.Sample {
	t.Helper()
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, len(tags))
	if err := r.Read(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadWriteEveryAddressFormAndType(t *testing.T) {
	srv := startSim(t, s7sim.Config{DBs: map[int]int{1: 600, 5: 300}})
	d := open(t, srv.Addr(), fastCfg())
	cases := []struct {
		addr, typ string
		v         plc.Value
	}{
		{"DB1.DBX0.0", "BOOL", plc.BoolValue(true)},
		{"DB1.DBX0.5", "BOOL", plc.BoolValue(true)},
		{"%db1.dbx0.7", "BOOL", plc.BoolValue(true)},
		{"DB1.DBB1", "BYTE", plc.UintValue(plc.Byte, 0xAB)},
		{"DB1.DBB2", "SINT", plc.IntValue(plc.SInt, -100)},
		{"DB1.DBB3", "CHAR", plc.UintValue(plc.Char, 'k')},
		{"DB1.DBB4", "USINT", plc.UintValue(plc.USInt, 250)},
		{"DB1.DBW6", "WORD", plc.UintValue(plc.Word, 0xBEEF)},
		{"DB1.DBW8", "INT", plc.IntValue(plc.Int, -32768)},
		{"DB1.DBW10", "UINT", plc.UintValue(plc.UInt, 65535)},
		{"DB1.DBD12", "DWORD", plc.UintValue(plc.DWord, 0xDEADBEEF)},
		{"DB1.DBD16", "DINT", plc.IntValue(plc.DInt, -2147483648)},
		{"DB1.DBD20", "UDINT", plc.UintValue(plc.UDInt, 4294967295)},
		{"DB1.DBD24", "REAL", plc.FloatValue(plc.Real, -273.15)},
		{"DB1.DBB28", "LREAL", plc.FloatValue(plc.LReal, 6.02214076e23)},
		{"DB1.DBB36", "LINT", plc.IntValue(plc.LInt, -9007199254740993)},
		{"DB1.DBB44", "ULINT", plc.UintValue(plc.ULInt, 18446744073709551615)},
		{"DB1.DBB52", "LWORD", plc.UintValue(plc.LWord, 0x0123456789ABCDEF)},
		{"%DB1.DBW60:INT", "", plc.IntValue(plc.Int, 1234)},
		{"DB5.DBB0[20]", "", plc.StringValue("Kiln 3 preheater")},
		{"DB5.DBB30", "STRING[254]", plc.StringValue(strings.Repeat("x", 254))},
		{"M0.1", "BOOL", plc.BoolValue(true)},
		{"MB1", "BYTE", plc.UintValue(plc.Byte, 7)},
		{"MW2", "INT", plc.IntValue(plc.Int, -2)},
		{"MD4", "REAL", plc.FloatValue(plc.Real, 0.5)},
		{"I0.0", "BOOL", plc.BoolValue(true)},
		{"E0.3", "BOOL", plc.BoolValue(true)},
		{"IB1", "BYTE", plc.UintValue(plc.Byte, 3)},
		{"EW2", "WORD", plc.UintValue(plc.Word, 4)},
		{"ID4", "DINT", plc.IntValue(plc.DInt, -5)},
		{"Q0.0", "BOOL", plc.BoolValue(true)},
		{"A0.6", "BOOL", plc.BoolValue(true)},
		{"QB1", "BYTE", plc.UintValue(plc.Byte, 9)},
		{"AW2", "INT", plc.IntValue(plc.Int, 300)},
		{"QD4", "DWORD", plc.UintValue(plc.DWord, 77)},
	}
	var tags []plc.Tag
	var items []plc.WriteItem
	for i, c := range cases {
		tg := tag(fmt.Sprintf("t%d", i), c.addr, c.typ)
		tags = append(tags, tg)
		items = append(items, plc.WriteItem{Tag: tg, Value: c.v})
	}
	for i, err := range d.Write(context.Background(), items) {
		if err != nil {
			t.Errorf("write %s: %v", cases[i].addr, err)
		}
	}
	got := read(t, d, tags...)
	for i, c := range cases {
		if !got[i].Quality.IsGood() || !got[i].Value.Equal(c.v) || got[i].Tag != tags[i].Name {
			t.Errorf("%s: read %v %v, want %v", c.addr, got[i].Value, got[i].Quality, c.v)
		}
		addr := c.addr
		if c.typ != "" {
			addr += ":" + c.typ
		}
		if v, err := srv.Get(addr); err != nil || !v.Equal(c.v) {
			t.Errorf("%s in the PLC: %v, %v", addr, v, err)
		}
	}
	// Bit writes touch only their bit: bits 0, 5, 7 of DB1.DBB0 are set.
	if b, _ := srv.ReadBytes(s7.AreaDB, 1, 0, 1); b[0] != 0xA1 {
		t.Errorf("DB1.DBB0 = %08b", b[0])
	}
	// Writing false clears only that bit.
	if errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tags[1], Value: plc.BoolValue(false)}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if b, _ := srv.ReadBytes(s7.AreaDB, 1, 0, 1); b[0] != 0x81 {
		t.Errorf("after clearing bit 5: %08b", b[0])
	}
	if srv.Violations() != 0 {
		t.Errorf("%d requests broke the PDU or item limits", srv.Violations())
	}
}

func TestWriteRefusesBadValuesBeforeSending(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	d := open(t, srv.Addr(), fastCfg())
	read(t, d, tag("warm", "DB1.DBW0", "INT")) // connected
	before := srv.Requests()
	errs := d.Write(context.Background(), []plc.WriteItem{
		{Tag: tag("a", "DB1.DBW0", "INT"), Value: plc.IntValue(plc.DInt, 70000)},
		{Tag: tag("b", "DB1.DBW0", "REAL"), Value: plc.FloatValue(plc.Real, 1)},
		{Tag: tag("c", "DB1.DBB0[3]", ""), Value: plc.StringValue("toolong")},
	})
	var ce *plc.ConversionError
	var ae *s7.AddressError
	if !errors.As(errs[0], &ce) || !errors.As(errs[1], &ae) || !errors.As(errs[2], &ce) {
		t.Errorf("errors %v", errs)
	}
	if srv.Requests() != before {
		t.Errorf("%d requests sent for refused writes", srv.Requests()-before)
	}
}

func TestItemErrorsTurnOnlyAffectedTagsBad(t *testing.T) {
	srv := startSim(t, s7sim.Config{DBs: map[int]int{1: 100}})
	srv.SetItemError(s7.AreaDB, 1, 20, s7.CodeAccessDenied)
	reg := prometheus.NewRegistry()
	d := open(t, srv.Addr(), fastCfg(), s7.WithRegisterer(reg), s7.WithName("press"))
	tags := []plc.Tag{
		tag("good1", "DB1.DBW16", "INT"),
		tag("denied", "DB1.DBW20", "INT"), // merged with its neighbours at first
		tag("good2", "DB1.DBW22", "INT"),
		tag("nodb", "DB9.DBW0", "INT"),
		tag("range", "DB1.DBD98", "DINT"),
		tag("badaddr", "DB1.DBW3", "REAL"),
	}
	if err := srv.Set("DB1.DBW16:INT", plc.IntValue(plc.Int, 16)); err != nil {
		t.Fatal(err)
	}
	_ = srv.Set("DB1.DBW22:INT", plc.IntValue(plc.Int, 22))
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	for pass := range 2 { // the second read runs on the plan that isolated the refused tag
		out := make([]plc.Sample, len(tags))
		if err := r.Read(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			reason plc.Reason
			code   uint32
		}{
			{plc.ReasonNone, 0},
			{plc.ReasonDeviceError, uint32(s7.CodeAccessDenied)},
			{plc.ReasonNone, 0},
			{plc.ReasonDeviceError, uint32(s7.CodeObjectDoesNotExist)},
			{plc.ReasonDeviceError, uint32(s7.CodeAddressOutOfRange)},
			{plc.ReasonConfigError, 0},
		}
		for i, w := range want {
			q := out[i].Quality
			if q.Reason != w.reason || q.Code != w.code || (w.reason == plc.ReasonNone) != q.IsGood() {
				t.Errorf("pass %d %s: quality %v, want reason %v code 0x%x", pass, tags[i].Name, q, w.reason, w.code)
			}
		}
		if out[0].Value.Float() != 16 || out[2].Value.Float() != 22 {
			t.Errorf("pass %d: good tags read %v and %v", pass, out[0].Value, out[2].Value)
		}
	}
	errs := d.Write(context.Background(), []plc.WriteItem{
		{Tag: tags[0], Value: plc.IntValue(plc.Int, 1)},
		{Tag: tags[1], Value: plc.IntValue(plc.Int, 1)},
		{Tag: tags[3], Value: plc.IntValue(plc.Int, 1)},
	})
	var ie *s7.ItemError
	if errs[0] != nil || !errors.As(errs[1], &ie) || ie.Code != s7.CodeAccessDenied || !errors.Is(errs[2], s7.CodeObjectDoesNotExist) {
		t.Errorf("write errors %v", errs)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
		if mf.GetName() == "kiln_s7_item_errors_total" {
			for _, m := range mf.GetMetric() {
				if m.GetCounter().GetValue() <= 0 {
					t.Errorf("item error counter %v is zero", m.GetLabel())
				}
			}
		}
	}
	for _, n := range []string{"kiln_s7_requests_total", "kiln_s7_bytes_total", "kiln_s7_round_trip_seconds", "kiln_s7_item_errors_total", "kiln_s7_breaker_state"} {
		if !seen[n] {
			t.Errorf("metric %s not gathered", n)
		}
	}
}

// bigTagSet returns n tags of mixed types over dbs data blocks.
func bigTagSet(n, dbs int) []plc.Tag {
	types := []string{"BOOL", "INT", "REAL", "DINT", "BYTE", "LREAL", "WORD", "STRING[16]"}
	var tags []plc.Tag
	off := make([]int, dbs+1)
	for i := range n {
		db := 1 + i%dbs
		typ := types[i%len(types)]
		dt, _ := plc.ParseDataType(typ)
		var addr string
		if dt.Kind == plc.Bool {
			addr = fmt.Sprintf("DB%d.DBX%d.%d", db, off[db], i%8)
		} else {
			w := map[int]string{16: "W", 32: "D"}[dt.Kind.Bits()]
			if w == "" {
				w = "B"
			}
			addr = fmt.Sprintf("DB%d.DB%s%d:%s", db, w, off[db], typ)
		}
		off[db] += dt.Size() + dt.Size()&1
		if i%37 == 0 {
			off[db] += 600 // far apart
		}
		tags = append(tags, plc.Tag{Name: fmt.Sprintf("tag%d", i), Address: addr})
	}
	return tags
}

func TestPDULimitsAreHonoured(t *testing.T) {
	for _, max := range []int{240, 480, 960} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			dbs := map[int]int{}
			for i := 1; i <= 4; i++ {
				dbs[i] = 8192
			}
			srv := startSim(t, s7sim.Config{MaxPDU: max, DBs: dbs})
			d := open(t, srv.Addr(), fastCfg())
			tags := bigTagSet(300, 4)
			var items []plc.WriteItem
			for i, tg := range tags {
				a, _ := s7.ParseAddress(tg.Address, tg.Type)
				var v plc.Value
				switch {
				case a.Type.Kind == plc.Bool:
					v = plc.BoolValue(i%3 == 0)
				case a.Type.Kind == plc.String:
					v = plc.StringValue(fmt.Sprint("s", i))
				default:
					v = plc.UintValue(plc.ULInt, uint64(i%100))
				}
				items = append(items, plc.WriteItem{Tag: tg, Value: v})
			}
			for i, err := range d.Write(context.Background(), items) {
				if err != nil {
					t.Fatalf("write %s: %v", tags[i].Address, err)
				}
			}
			got := read(t, d, tags...)
			for i, s := range got {
				want, _ := plc.Convert(items[i].Value, mustAddr(t, tags[i]).Type)
				if !s.Quality.IsGood() || !s.Value.Equal(want) {
					t.Fatalf("%s: %v %v, want %v", tags[i].Address, s.Value, s.Quality, want)
				}
			}
			if d.PDUSize() != max {
				t.Errorf("PDU %d, want %d", d.PDUSize(), max)
			}
			if srv.Violations() != 0 {
				t.Errorf("%d requests or answers broke the negotiated limits", srv.Violations())
			}
		})
	}
}

func mustAddr(t *testing.T, tg plc.Tag) s7.Address {
	t.Helper()
	a, err := s7.ParseAddress(tg.Address, tg.Type)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReconnectsWhenThePLCRestarts(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	_ = srv.Set("DB1.DBW0:INT", plc.IntValue(plc.Int, 42))
	reg := prometheus.NewRegistry()
	cfg := fastCfg()
	cfg.Breaker.Failures = 1000 // this test is about reconnecting, not the breaker
	d := open(t, srv.Addr(), cfg, s7.WithRegisterer(reg))
	tg := tag("x", "DB1.DBW0", "INT")
	r, err := d.Prepare([]plc.Tag{tg})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, 1)
	if err := r.Read(context.Background(), out); err != nil || !out[0].Quality.IsGood() {
		t.Fatalf("first read: %v %v", out[0].Quality, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Read(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		if out[0].Quality.Status != plc.StatusBad || out[0].Quality.Reason != plc.ReasonCommFailure {
			t.Fatalf("read while down: %v", out[0].Quality)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a good read after the restart", func() bool {
		_ = r.Read(context.Background(), out)
		return out[0].Quality.IsGood()
	})
	if out[0].Value.Float() != 42 {
		t.Errorf("read %v after restart", out[0].Value)
	}
	if n := counterValue(t, reg, "kiln_s7_reconnects_total"); n < 1 {
		t.Errorf("reconnects counter %v", n)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func TestBreakerOpensWhileDownAndClosesAfter(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	reg := prometheus.NewRegistry()
	cfg := fastCfg()
	cfg.Breaker.Failures = 3
	cfg.Breaker.OpenFor = 30 * time.Millisecond
	d := open(t, srv.Addr(), cfg, s7.WithRegisterer(reg))
	tags := []plc.Tag{tag("x", "DB1.DBW0", "INT")}
	read(t, d, tags...)
	if d.BreakerState() != gobreaker.StateClosed {
		t.Fatalf("breaker %v while up", d.BreakerState())
	}
	_ = srv.Stop()
	out := read(t, d, tags...) // fails, and the driver starts reconnecting
	if out[0].Quality.Reason != plc.ReasonCommFailure {
		t.Errorf("quality %v", out[0].Quality)
	}
	eventually(t, "the breaker to open", func() bool { return d.BreakerState() == gobreaker.StateOpen })
	if v := counterValue(t, reg, "kiln_s7_breaker_state"); v == 0 {
		t.Errorf("breaker gauge %v while open", v)
	}
	// While open, reads answer at once with Bad samples.
	out = read(t, d, tags...)
	if out[0].Quality.Status != plc.StatusBad {
		t.Errorf("read while open: %v", out[0].Quality)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the breaker to close", func() bool { return d.BreakerState() == gobreaker.StateClosed && d.PDUSize() > 0 })
	if out = read(t, d, tags...); !out[0].Quality.IsGood() {
		t.Errorf("read after recovery: %v", out[0].Quality)
	}
	if v := counterValue(t, reg, "kiln_s7_breaker_state"); v != 0 {
		t.Errorf("breaker gauge %v after closing", v)
	}
}

func TestUnreachablePLCFailsFast(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	addr := srv.Addr()
	_ = srv.Close()
	d := open(t, addr, fastCfg())
	tags := bigTagSet(50, 2)
	out := read(t, d, tags...)
	for _, s := range out {
		if s.Quality.Status != plc.StatusBad || s.Quality.Reason != plc.ReasonCommFailure {
			t.Fatalf("%s: %v", s.Tag, s.Quality)
		}
	}
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("x", "DB1.DBW0", "INT"), Value: plc.IntValue(plc.Int, 1)}})
	if !errors.Is(errs[0], plc.ErrNotConnected) {
		t.Errorf("write: %v", errs[0])
	}
}

func TestDroppedConnectionRecovers(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	d := open(t, srv.Addr(), fastCfg())
	tags := []plc.Tag{tag("x", "DB1.DBW0", "INT")}
	read(t, d, tags...)
	srv.DropAfter(1)
	if out := read(t, d, tags...); out[0].Quality.IsGood() {
		t.Error("read on a dropped connection was good")
	}
	eventually(t, "recovery after a dropped connection", func() bool { return read(t, d, tags...)[0].Quality.IsGood() })
}

func TestConcurrentUseOverSeveralConnections(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	cfg := fastCfg()
	cfg.Connections = 3
	d := open(t, srv.Addr(), cfg)
	tags := bigTagSet(200, 5)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r, err := d.Prepare(tags)
			if err != nil {
				t.Error(err)
				return
			}
			out := make([]plc.Sample, len(tags))
			for i := range 5 {
				if err := r.Read(context.Background(), out); err != nil {
					t.Error(err)
					return
				}
				for _, s := range out {
					if !s.Quality.IsGood() {
						t.Errorf("%s: %v", s.Tag, s.Quality)
						return
					}
				}
				v := plc.IntValue(plc.Int, int64(g*10+i))
				if errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("w", fmt.Sprintf("DB%d.DBW4000", g+1), "INT"), Value: v}}); errs[0] != nil {
					t.Error(errs[0])
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "three connections", func() bool { return srv.Connections() == 3 })
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	cfg := fastCfg()
	cfg.Endpoint = srv.Addr()
	d, err := s7.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Prepare([]plc.Tag{tag("x", "DB1.DBW0", "INT")})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	_ = d.Close()
	out := make([]plc.Sample, 1)
	if err := r.Read(context.Background(), out); !errors.Is(err, plc.ErrClosed) || out[0].Quality.IsGood() {
		t.Errorf("read after Close: %v %v", err, out[0].Quality)
	}
	if _, err := d.Prepare(nil); !errors.Is(err, plc.ErrClosed) {
		t.Errorf("Prepare after Close: %v", err)
	}
	if errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("x", "DB1.DBW0", "INT"), Value: plc.IntValue(plc.Int, 1)}}); !errors.Is(errs[0], plc.ErrClosed) {
		t.Errorf("Write after Close: %v", errs[0])
	}
}

func TestRegisteredAsS7(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	dev := plc.Device{Name: "kiln1", Driver: "s7", Endpoint: srv.Addr(), Options: map[string]string{"rack": "0", "slot": "1", "connection_type": "op", "max_items": "10"}}
	d, err := plc.Open(dev, plc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if out := read(t, d, tag("x", "MW0", "INT")); !out[0].Quality.IsGood() {
		t.Errorf("read through plc.Open: %v", out[0].Quality)
	}
	reg, _ := plc.Lookup("s7")
	if err := reg.CheckAddress("DB1.DBW0", plc.TypeReal); err == nil {
		t.Error("CheckAddress accepted a REAL at a DBW")
	}
	dev.Options = map[string]string{"slott": "1"}
	if _, err := plc.Open(dev, plc.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "slott") {
		t.Errorf("unknown option: %v", err)
	}
}

func TestConfigFromDeviceReadsEveryOptionByItsYAMLName(t *testing.T) {
	c, err := s7.ConfigFromDevice(plc.Device{Name: "p", Endpoint: "10.0.0.5", Options: map[string]string{
		"rack": "1", "slot": "3", "connection_type": "basic", "remote_tsap": "03.23", "local_tsap": "0x0100",
		"pdu_size": "240", "max_items": "18", "gap": "auto", "connections": "2", "timeout": "2s",
		"connect_timeout": "1s", "retry.initial": "50ms", "retry.max": "5s", "retry.multiplier": "3", "retry.jitter": "-1",
		"breaker.failures": "4", "breaker.open_for": "3s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := s7.Config{Endpoint: "10.0.0.5", Rack: 1, Slot: 3, ConnectionType: "basic", RemoteTSAP: 0x0323, LocalTSAP: 0x0100,
		PDUSize: 240, MaxItems: 18, Connections: 2, Timeout: 2 * time.Second, ConnectTimeout: time.Second,
		Retry:   backoff.Config{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Multiplier: 3, Jitter: -1},
		Breaker: breaker.Config{Failures: 4, OpenFor: 3 * time.Second}}
	if c != want {
		t.Errorf("config\n%+v, want\n%+v", c, want)
	}
}

func TestConfigFromDeviceReportsEveryProblemAtItsOptionPath(t *testing.T) {
	_, err := s7.ConfigFromDevice(plc.Device{Name: "p", Options: map[string]string{
		"rack": "x", "slot": "40", "connection_type": "hmi", "local_tsap": "0x10000", "pdu_size": "10",
		"gap": "-1", "timeout": "soon", "remote_tsap": "zz", "retry.multiplier": "0.5", "breaker.failures": "-1",
		"reconnect_max": "5s", "endpoint": "10.0.0.9",
	}})
	var got []string
	for _, fe := range config.List(err) {
		got = append(got, fe.Path)
	}
	want := []string{
		"options", // endpoint: the device's, not an option
		"options.local_tsap", "options.rack", "options",
		"options.remote_tsap", "options.timeout",
		"endpoint", "options.slot", "options.connection_type", "options.pdu_size", "options.gap",
		"options.retry.multiplier", "options.breaker.failures",
	}
	if !slices.Equal(got, want) {
		t.Errorf("paths\n%q, want\n%q\n%v", got, want, err)
	}
	for _, fe := range config.List(err) {
		if strings.Contains(fe.Msg, "strconv") || strings.Contains(fe.Msg, "parsing") {
			t.Errorf("%s: %s", fe.Path, fe.Msg)
		}
	}
}

func TestRemoteTSAPAndPDUCap(t *testing.T) {
	srv := startSim(t, s7sim.Config{Slot: 2})
	cfg := fastCfg()
	cfg.RemoteTSAP = 0x0302 // basic connection, rack 0, slot 2
	cfg.PDUSize = 200
	d := open(t, srv.Addr(), cfg)
	tags := bigTagSet(100, 3)
	for _, s := range read(t, d, tags...) {
		if !s.Quality.IsGood() {
			t.Fatalf("%s: %v", s.Tag, s.Quality)
		}
	}
	if d.PDUSize() != 200 {
		t.Errorf("PDU %d, want the proposed 200", d.PDUSize())
	}
	wrong := fastCfg()
	wrong.Slot = 3
	d2 := open(t, srv.Addr(), wrong)
	if out := read(t, d2, tags[0]); out[0].Quality.Reason != plc.ReasonCommFailure {
		t.Errorf("wrong slot: %v", out[0].Quality)
	}
}

func TestReconnectWaitsForTheBackoffDelay(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	_ = srv.Stop()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := s7.Config{Retry: backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1}}
	d := open(t, srv.Addr(), cfg, s7.WithClock(clk))
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	clk.BlockUntil(1) // the first attempt failed; the driver waits for its delay
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if out := read(t, d, tags...); out[0].Quality.Reason != plc.ReasonCommFailure {
		t.Fatalf("read before the delay: %v", out[0].Quality)
	}
	clk.Advance(999 * time.Millisecond)
	if out := read(t, d, tags...); out[0].Quality.IsGood() || srv.Connections() != 0 {
		t.Fatalf("reconnected %v before the delay was over", out[0].Quality)
	}
	clk.Advance(time.Millisecond)
	eventually(t, "the reconnection after the delay", func() bool { return read(t, d, tags...)[0].Quality.IsGood() })
	if got := read(t, d, tags...)[0].Time; !got.Equal(clk.Now()) {
		t.Errorf("sample time %v, want the clock's %v", got, clk.Now())
	}
}

func TestPollerOverS7(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	_ = srv.Set("DB1.DBW2:INT", plc.IntValue(plc.Int, 13824))
	_ = srv.Set("DB1.DBX0.0", plc.BoolValue(true))
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "kiln1", Driver: "s7", Endpoint: srv.Addr()}},
		Groups:  []plc.ScanGroup{{Name: "fast", Rate: 10 * time.Millisecond}},
		Tags: []plc.Tag{
			{Name: "Kiln1.Setpoint", Device: "kiln1", Address: "DB1.DBW2", Type: plc.TypeInt, Group: "fast",
				Scaling: &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}},
			{Name: "Kiln1.Running", Device: "kiln1", Address: "DB1.DBX0.0", Type: plc.TypeBool, Group: "fast"},
		},
	}
	if err := db.Validate(); err != nil {
		t.Fatal(err)
	}
	drv, err := plc.Open(db.Devices[0], plc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	var mu sync.Mutex
	latest := map[string]plc.Sample{}
	sink := plc.SinkFunc(func(_ context.Context, ss []plc.Sample) error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range ss {
			latest[s.Tag] = s
		}
		return nil
	})
	p, err := plc.NewPoller(db, map[string]plc.Driver{"kiln1": drv}, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx) }()
	eventually(t, "good samples from the poller", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return latest["Kiln1.Setpoint"].Quality.IsGood() && latest["Kiln1.Running"].Quality.IsGood()
	})
	cancel()
	<-done
	if v := latest["Kiln1.Setpoint"].Value.Float(); v != 600 {
		t.Errorf("scaled setpoint %v, want 600", v)
	}
}

// TestAnswerToAnotherRequestDropsTheConnection runs the driver against a
// peer that answers every read with the wrong PDU reference: the samples
// are Bad, and the driver reconnects rather than reading on out of step.
func TestAnswerToAnotherRequestDropsTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() { badPeer(c) })
		}
	})
	d := open(t, ln.Addr().String(), fastCfg())
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	out := read(t, d, tags...)
	if out[0].Quality.Reason != plc.ReasonCommFailure || out[0].Quality.Detail != "bad response" {
		t.Errorf("quality %v", out[0].Quality)
	}
	eventually(t, "a reconnection", func() bool { return accepted.Load() >= 2 })
	_ = d.Close()
}

// badPeer accepts an S7 connection and answers reads with reference+1.
func badPeer(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	for {
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(buf[2:]))
		if n < 7 || n > len(buf) {
			return
		}
		if _, err := io.ReadFull(c, buf[4:n]); err != nil {
			return
		}
		var resp []byte
		switch {
		case buf[5] == 0xE0: // connection request
			resp = []byte{3, 0, 0, 22, 17, 0xD0, 0, 1, 0, 1, 0, 0xC0, 1, 10, 0xC1, 2, 1, 0, 0xC2, 2, 1, 1}
		case buf[7+10] == wire.FuncSetup:
			resp = wire.Frame(wire.AckData(binary.BigEndian.Uint16(buf[7+4:]), 0, 0, []byte{wire.FuncSetup, 0, 0, 1, 0, 1, 1, 0xE0}, nil))
		default:
			ref := binary.BigEndian.Uint16(buf[7+4:]) + 1
			resp = wire.Frame(wire.AckData(ref, 0, 0, []byte{wire.FuncRead, 1}, []byte{0xFF, 4, 0, 16, 0, 0}))
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// TestLocalTSAP connects from an explicit local TSAP to a CPU that
// accepts only that one, as a connection configured in the CPU does.
func TestLocalTSAP(t *testing.T) {
	srv := startSim(t, s7sim.Config{LocalTSAP: 0x1002})
	_ = srv.Set("MW0:INT", plc.IntValue(plc.Int, 7))
	cfg := fastCfg()
	cfg.LocalTSAP = 0x1002
	d := open(t, srv.Addr(), cfg)
	if out := read(t, d, tag("x", "MW0", "INT")); !out[0].Quality.IsGood() || out[0].Value.Float() != 7 {
		t.Fatalf("from TSAP 0x1002: %v %v", out[0].Value, out[0].Quality)
	}
	ev, withEvents := newSessionEvents()
	wrong := open(t, srv.Addr(), fastCfg(), withEvents) // from the default 0x0100
	if out := read(t, wrong, tag("x", "MW0", "INT")); out[0].Quality.Reason != plc.ReasonCommFailure {
		t.Fatalf("from TSAP 0x0100: %v", out[0].Quality)
	}
	e := ev.expect(t, reconnect.Retrying)
	if !errors.Is(e.Err, s7.ErrRefused) || !strings.Contains(e.Err.Error(), "local TSAP 0x0100") {
		t.Fatalf("the failed attempt's error %v, want s7.ErrRefused naming local TSAP 0x0100", e.Err)
	}
}

// TestCancelInterruptsARequest cancels a read the PLC is slow to answer:
// the read returns with the cancellation at once, not after Timeout, and
// the driver reconnects for the next one.
func TestCancelInterruptsARequest(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	cfg := fastCfg()
	cfg.Timeout = time.Hour
	d := open(t, srv.Addr(), cfg)
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	read(t, d, tags...)
	srv.SetLatency(time.Hour)
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	before := srv.Requests()
	go func() {
		for srv.Requests() == before {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	out := make([]plc.Sample, 1)
	if err := r.Read(ctx, out); !errors.Is(err, context.Canceled) {
		t.Errorf("Read: %v, want context.Canceled", err)
	}
	if out[0].Quality.Reason != plc.ReasonCommFailure || out[0].Quality.Detail != "canceled" {
		t.Errorf("quality %v", out[0].Quality)
	}
	if d.BreakerState() != gobreaker.StateClosed {
		t.Errorf("breaker %v after a cancelled request", d.BreakerState())
	}
	srv.SetLatency(0)
	eventually(t, "a good read after the cancellation", func() bool { return read(t, d, tags...)[0].Quality.IsGood() })
}

// TestCloseInterruptsARequest closes the driver while a read waits for a
// slow PLC: Close returns without waiting for Timeout, and so does the
// read.
func TestCloseInterruptsARequest(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	cfg := fastCfg()
	cfg.Timeout = time.Hour
	cfg.Endpoint = srv.Addr()
	d, err := s7.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, 1)
	if err := r.Read(context.Background(), out); err != nil || !out[0].Quality.IsGood() {
		t.Fatalf("first read: %v %v", out[0].Quality, err)
	}
	srv.SetLatency(time.Hour)
	before := srv.Requests()
	done := make(chan error)
	go func() { done <- r.Read(context.Background(), out) }()
	eventually(t, "the request to reach the PLC", func() bool { return srv.Requests() > before })
	_ = d.Close()
	<-done
	if out[0].Quality.IsGood() {
		t.Errorf("read interrupted by Close: %v", out[0].Quality)
	}
}

// TestRefusedJobs reads and writes on a CPU that refuses every job (PUT/GET
// disabled): the tags are Bad with the header's class and code, writes
// return a *JobError, and the connection stays up.
func TestRefusedJobs(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	d := open(t, srv.Addr(), fastCfg())
	tags := []plc.Tag{tag("a", "DB1.DBW0", "INT"), tag("b", "MB3", "BYTE")}
	read(t, d, tags...)
	srv.SetJobError(0x81, 0x04)
	for _, s := range read(t, d, tags...) {
		if s.Quality.Status != plc.StatusBad || s.Quality.Reason != plc.ReasonDeviceError || s.Quality.Code != 0x8104 {
			t.Errorf("%s: %v (code 0x%x)", s.Tag, s.Quality, s.Quality.Code)
		}
	}
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tags[0], Value: plc.IntValue(plc.Int, 5)}})
	var je *s7.JobError
	if !errors.As(errs[0], &je) || je.Class != 0x81 || je.Code != 0x04 {
		t.Errorf("write: %v", errs[0])
	}
	if v, _ := srv.Get("DB1.DBW0:INT"); v.Float() != 0 {
		t.Errorf("refused write changed the PLC to %v", v)
	}
	srv.SetJobError(0, 0)
	if out := read(t, d, tags...); !out[0].Quality.IsGood() || srv.Connections() != 1 {
		t.Errorf("after the refusal: %v, %d connections", out[0].Quality, srv.Connections())
	}
}

// TestIdleConnectionClosedByThePLC restarts the PLC while the driver is
// idle: the driver notices the closed connection by itself and
// reconnects, so the first read after the restart is already good.
func TestIdleConnectionClosedByThePLC(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	_ = srv.Set("MW0:INT", plc.IntValue(plc.Int, 11))
	reg := prometheus.NewRegistry()
	d := open(t, srv.Addr(), fastCfg(), s7.WithRegisterer(reg))
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	read(t, d, tags...)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the driver to reconnect without a request", func() bool {
		return counterValue(t, reg, "kiln_s7_reconnects_total") >= 1 && srv.Connections() == 1
	})
	if out := read(t, d, tags...); !out[0].Quality.IsGood() || out[0].Value.Float() != 11 {
		t.Errorf("first read after the restart: %v %v", out[0].Value, out[0].Quality)
	}
}

func TestPointDBReportsABadOptionAtItsLineOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plant.yaml")
	data := "devices:\n  - name: plc1\n    driver: s7\n    endpoint: 10.0.0.5\n    options:\n      rack: x\n      slott: 1\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := plc.Load(p)
	var got []string
	for _, fe := range config.List(err) {
		got = append(got, fe.Error())
	}
	want := []string{
		p + `:5: options.rack: "x" is not a whole number`,
		p + `:5: options: unknown option "slott" (known: rack, slot, connection_type, remote_tsap, local_tsap, pdu_size, max_items, gap, connections, timeout, connect_timeout, retry.initial, retry.max, retry.multiplier, retry.jitter, breaker.failures, breaker.open_for)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A driver's metrics register as one collector: a second driver of the
// same name is refused whole, and Close frees the name for the next one.
func TestMetricsRegisterWholeAndCloseFreesThem(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	reg := prometheus.NewRegistry()
	cfg := fastCfg()
	cfg.Endpoint = srv.Addr()
	first, err := s7.New(cfg, s7.WithRegisterer(reg), s7.WithName("press"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s7.New(cfg, s7.WithRegisterer(reg), s7.WithName("press")); err == nil {
		t.Fatal("a second driver registered the same metrics")
	}
	n, err := testutil.GatherAndCount(reg, "kiln_s7_breaker_state")
	if err != nil || n != 1 {
		t.Fatalf("after the refused driver: %d breaker series, %v", n, err)
	}
	_ = first.Close()
	if n, _ := testutil.GatherAndCount(reg, "kiln_s7_breaker_state"); n != 0 {
		t.Errorf("%d breaker series after Close", n)
	}
	again, err := s7.New(cfg, s7.WithRegisterer(reg), s7.WithName("press"))
	if err != nil {
		t.Fatalf("after Close the name is still taken: %v", err)
	}
	_ = again.Close()
}
