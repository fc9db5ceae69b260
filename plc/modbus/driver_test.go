package modbus_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
	"github.com/kiln-iot/kiln/reconnect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startSim(t *testing.T, cfg modbussim.Config, opts ...modbussim.Option) *modbussim.Server {
	t.Helper()
	srv, err := modbussim.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// fastCfg reconnects quickly, so tests of outages do not wait long.
func fastCfg() modbus.Config {
	return modbus.Config{
		Timeout: 5 * time.Second,
		Retry:   backoff.Config{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
}

func open(t *testing.T, endpoint string, cfg modbus.Config, opts ...modbus.Option) *modbus.Driver {
	t.Helper()
	cfg.Endpoint = endpoint
	d, err := modbus.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func tag(name, addr string) plc.Tag {
	return plc.Tag{Name: name, Address: addr, Access: plc.ReadWrite}
}

func read(t *testing.T, d plc.Driver, tags ...plc.Tag) []plc.Sample {
	t.Helper()
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	return readWith(t, r, len(tags))
}

func readWith(t *testing.T, r plc.Reader, n int) []plc.Sample {
	t.Helper()
	out := make([]plc.Sample, n)
	if err := r.Read(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// typedCases are a value of every type in every order, on holding and
// input registers, with coils, discrete inputs and bits in registers.
var typedCases = []struct {
	addr string
	v    plc.Value
}{
	{"HR1:INT", plc.IntValue(plc.Int, -1234)},
	{"HR2:UINT:BADC", plc.UintValue(plc.UInt, 0xBEEF)},
	{"HR3:DINT:CDAB", plc.IntValue(plc.DInt, -7654321)},
	{"HR5:UDINT:DCBA", plc.UintValue(plc.UDInt, 4000000000)},
	{"HR7:REAL", plc.FloatValue(plc.Real, 21.5)},
	{"HR9:REAL:CDAB", plc.FloatValue(plc.Real, -3.25)},
	{"HR11:REAL:BADC", plc.FloatValue(plc.Real, 1e6)},
	{"HR13:REAL:DCBA", plc.FloatValue(plc.Real, 0.125)},
	{"HR20:LREAL", plc.FloatValue(plc.LReal, 3.141592653589793)},
	{"HR24:LREAL:CDAB", plc.FloatValue(plc.LReal, -2.718281828)},
	{"HR28:LINT:DCBA", plc.IntValue(plc.LInt, -1<<40)},
	{"HR32:LINT:BADC", plc.IntValue(plc.LInt, 1<<50+3)},
	{"HR40:STRING[10]", plc.StringValue("kiln line")},
	{"HR50:STRING[7]:BADC", plc.StringValue("pump 3")},
	{"HR60.0", plc.BoolValue(true)},
	{"HR60.15", plc.BoolValue(true)},
	{"HR60.7", plc.BoolValue(false)},
	{"IR1:REAL", plc.FloatValue(plc.Real, 400.5)},
	{"IR3:DINT:DCBA", plc.IntValue(plc.DInt, 99)},
	{"IR10.4", plc.BoolValue(true)},
	{"CO1", plc.BoolValue(true)},
	{"CO2", plc.BoolValue(false)},
	{"CO9", plc.BoolValue(true)},
	{"DI3", plc.BoolValue(true)},
	{"DI4", plc.BoolValue(false)},
	{"2!HR1:REAL", plc.FloatValue(plc.Real, 2.5)},
	{"40100:DINT", plc.IntValue(plc.DInt, 100100)},
	{"400200:REAL", plc.FloatValue(plc.Real, 200.25)},
	{"30050", plc.UintValue(plc.UInt, 3)},
	{"00100", plc.BoolValue(true)},
	{"10100", plc.BoolValue(true)},
}

func TestReadsEveryTableTypeAndOrder(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	var tags []plc.Tag
	for _, c := range typedCases {
		if err := srv.Set(c.addr, c.v); err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		tags = append(tags, tag(c.addr, c.addr))
	}
	for _, inFlight := range []int{1, 4} {
		cfg := fastCfg()
		cfg.InFlight = inFlight
		d := open(t, srv.Addr(), cfg)
		out := read(t, d, tags...)
		for i, c := range typedCases {
			if !out[i].Quality.IsGood() || !out[i].Value.Equal(c.v) {
				t.Errorf("in flight %d: %s = %v (%v), want %v", inFlight, c.addr, out[i].Value, out[i].Quality, c.v)
			}
		}
	}
}

func TestDeviceDefaultsApply(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	// Register 10 (0-based) of unit 7 holds a REAL in CDAB order.
	if err := srv.Set("7!HR11:REAL:CDAB", plc.FloatValue(plc.Real, 42.5)); err != nil {
		t.Fatal(err)
	}
	cfg := fastCfg()
	cfg.Unit, cfg.ByteOrder, cfg.ZeroBased = 7, "CDAB", true
	d := open(t, srv.Addr(), cfg)
	tg := tag("t", "HR10")
	tg.Type = plc.TypeReal
	out := read(t, d, tg)
	if !out[0].Quality.IsGood() || out[0].Value.Float() != 42.5 {
		t.Errorf("HR10 with unit 7, CDAB, 0-based: %v (%v)", out[0].Value, out[0].Quality)
	}
}

func TestBadAddressReadsBadAlone(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	_ = srv.Set("HR1", plc.UintValue(plc.UInt, 5))
	d := open(t, srv.Addr(), fastCfg())
	out := read(t, d, tag("good", "HR1"), tag("bad", "HR1:BYTE"))
	if !out[0].Quality.IsGood() || out[1].Quality.Reason != plc.ReasonConfigError {
		t.Errorf("got %v / %v", out[0].Quality, out[1].Quality)
	}
}

func TestExceptionTurnsOnlyItsRequestBad(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	srv.SetFault(1, modbus.HoldingRegisters, 999, modbussim.Fault{Exception: modbussim.DeviceBusy})
	srv.SetFault(2, modbus.HoldingRegisters, 0, modbussim.Fault{Exception: modbussim.GatewayTargetFail})
	cfg := fastCfg()
	cfg.Gap = 10
	d := open(t, srv.Addr(), cfg)
	out := read(t, d, tag("a", "HR1"), tag("b", "HR1000"), tag("c", "HR1002"), tag("d", "2!HR1"), tag("e", "HR500"))
	for _, i := range []int{0, 4} {
		if !out[i].Quality.IsGood() {
			t.Errorf("%s: %v", out[i].Tag, out[i].Quality)
		}
	}
	for _, c := range []struct {
		i    int
		code modbus.Exception
	}{{1, modbus.ExDeviceBusy}, {2, modbus.ExDeviceBusy}, {3, modbus.ExGatewayTargetFailed}} {
		q := out[c.i].Quality
		if q.Reason != plc.ReasonDeviceError || q.Code != uint32(c.code) || q.Detail != c.code.Text() {
			t.Errorf("%s: %v, want exception %v", out[c.i].Tag, q, c.code)
		}
	}
}

func TestRefusedRangeIsSplitAndTheSplitKept(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	// Registers 5 and 40 do not exist on this device: a read across them
	// is refused, though no tag is at 5.
	srv.SetFault(1, modbus.HoldingRegisters, 4, modbussim.Fault{Exception: modbussim.IllegalDataAddress})
	srv.SetFault(1, modbus.HoldingRegisters, 39, modbussim.Fault{Exception: modbussim.IllegalDataAddress})
	var tags []plc.Tag
	for _, a := range []string{"HR1", "HR2", "HR3", "HR4", "HR6", "HR7", "HR8", "HR20", "HR40", "HR41"} {
		_ = srv.Set(a, plc.UintValue(plc.UInt, 7))
		tags = append(tags, tag(a, a))
	}
	reg := prometheus.NewRegistry()
	d := open(t, srv.Addr(), fastCfg(), modbus.WithRegisterer(reg))
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	check := func(round string) {
		out := readWith(t, r, len(tags))
		for _, s := range out {
			if s.Tag == "HR40" {
				if s.Quality.Code != uint32(modbus.ExIllegalDataAddress) {
					t.Errorf("%s: HR40 %v, want illegal data address", round, s.Quality)
				}
				continue
			}
			if !s.Quality.IsGood() || s.Value.Float() != 7 {
				t.Errorf("%s: %s = %v (%v)", round, s.Tag, s.Value, s.Quality)
			}
		}
	}
	check("first read")
	before := srv.Requests()
	exc := gatherValue(t, reg, "kiln_modbus_exceptions_total")
	check("second read")
	// The split is remembered: the second read is refused only for HR40,
	// which is read alone.
	if n := gatherValue(t, reg, "kiln_modbus_exceptions_total") - exc; n != 1 {
		t.Errorf("second read got %v exceptions, want 1", n)
	}
	// The cuts the bisection needed but the device does not are gone:
	// HR1-4 | HR6-20 | HR40 | HR41.
	if n := srv.Requests() - before; n != 4 {
		t.Errorf("second read took %d requests, want 4", n)
	}
}

func TestWrites(t *testing.T) {
	var mu sync.Mutex
	var events []modbussim.WriteEvent
	srv := startSim(t, modbussim.Config{}, modbussim.WithOnWrite(func(e modbussim.WriteEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	lastEvents := func() []modbussim.WriteEvent {
		mu.Lock()
		defer mu.Unlock()
		out := events
		events = nil
		return out
	}
	_ = srv.Set("HR10", plc.UintValue(plc.UInt, 0x00F0))
	for _, single := range []bool{false, true} {
		cfg := fastCfg()
		cfg.SingleWrites = single
		d := open(t, srv.Addr(), cfg)
		items := []plc.WriteItem{
			{Tag: tag("real", "HR1:REAL:CDAB"), Value: plc.FloatValue(plc.Real, 12.5)},
			{Tag: tag("int", "HR5:INT"), Value: plc.IntValue(plc.Int, -9)},
			{Tag: tag("coil", "CO3"), Value: plc.BoolValue(true)},
			{Tag: tag("str", "HR20:STRING[6]"), Value: plc.StringValue("abc")},
			{Tag: tag("ir", "IR1"), Value: plc.UintValue(plc.UInt, 1)},
			{Tag: tag("bit", "HR10.0"), Value: plc.BoolValue(true)},
			{Tag: tag("big", "HR6:INT"), Value: plc.IntValue(plc.DInt, 1<<20)},
		}
		errs := d.Write(context.Background(), items)
		for i := range 4 {
			if errs[i] != nil {
				t.Errorf("single %v: %s: %v", single, items[i].Tag.Name, errs[i])
			}
		}
		if !errors.Is(errs[4], modbus.ErrReadOnlyTable) {
			t.Errorf("input register write: %v", errs[4])
		}
		if !errors.Is(errs[5], modbus.ErrBitWrite) {
			t.Errorf("bit write without read_modify_write: %v", errs[5])
		}
		var ce *plc.ConversionError
		if !errors.As(errs[6], &ce) {
			t.Errorf("out-of-range INT: %v", errs[6])
		}
		// The REAL went in one request of two registers.
		ev := lastEvents()
		if len(ev) != 4 || ev[0].Register != 0 || ev[0].Count != 2 || ev[3].Count != 3 {
			t.Errorf("single %v: writes %+v", single, ev)
		}
		for _, c := range []struct {
			addr string
			want plc.Value
		}{{"HR1:REAL:CDAB", plc.FloatValue(plc.Real, 12.5)}, {"HR5:INT", plc.IntValue(plc.Int, -9)}, {"CO3", plc.BoolValue(true)}, {"HR20:STRING[6]", plc.StringValue("abc")}} {
			if v, err := srv.Get(c.addr); err != nil || !v.Equal(c.want) {
				t.Errorf("%s = %v, %v", c.addr, v, err)
			}
		}
		_ = srv.Set("CO3", plc.BoolValue(false))
	}
	cfg := fastCfg()
	cfg.ReadModifyWrite = true
	d := open(t, srv.Addr(), cfg)
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("bit", "HR10.0"), Value: plc.BoolValue(true)}, {Tag: tag("bit", "HR10.4"), Value: plc.BoolValue(false)}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if v, _ := srv.Get("HR10"); v.Float() != 0x00E1 {
		t.Errorf("HR10 after setting bit 0 and clearing bit 4 of 0x00F0: %#x", int(v.Float()))
	}
}

func TestWriteException(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	srv.SetFault(1, modbus.HoldingRegisters, 0, modbussim.Fault{Exception: modbussim.IllegalDataValue})
	d := open(t, srv.Addr(), fastCfg())
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("x", "HR1"), Value: plc.UintValue(plc.UInt, 1)}})
	var ee *modbus.ExceptionError
	if !errors.As(errs[0], &ee) || !errors.Is(errs[0], modbus.ExIllegalDataValue) || ee.Unit != 1 || ee.Function != 0x10 {
		t.Errorf("got %v", errs[0])
	}
}

func TestOutageReadsBadThenRecovers(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	_ = srv.Set("HR1", plc.UintValue(plc.UInt, 11))
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var kinds []reconnect.EventKind
	d := open(t, srv.Addr(), fastCfg(), modbus.WithName("pump"), modbus.WithRegisterer(reg), modbus.WithEvents(func(e reconnect.Event) {
		mu.Lock()
		kinds = append(kinds, e.Kind)
		mu.Unlock()
	}))
	r, err := d.Prepare([]plc.Tag{tag("x", "HR1")})
	if err != nil {
		t.Fatal(err)
	}
	if out := readWith(t, r, 1); !out[0].Quality.IsGood() {
		t.Fatal(out[0].Quality)
	}
	srv.Stop()
	eventually(t, "a bad sample while the device is down", func() bool {
		return readWith(t, r, 1)[0].Quality.Reason == plc.ReasonCommFailure
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a good sample after the device is back", func() bool {
		out := readWith(t, r, 1)
		return out[0].Quality.IsGood() && out[0].Value.Float() == 11
	})
	if n := gatherValue(t, reg, "kiln_modbus_reconnects_total"); n < 1 {
		t.Errorf("reconnects = %v", n)
	}
	// The session events of the shared loop: connected, lost, (retrying,)
	// connected again.
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) < 3 || kinds[0] != reconnect.Connected || kinds[1] != reconnect.Lost || kinds[len(kinds)-1] != reconnect.Connected {
		t.Errorf("session events %v, want connected, lost, …, connected", kinds)
	}
}

func TestBreakerOpensOnSilentDevice(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	srv.SetLatency(time.Hour) // accepts connections, never answers
	cfg := fastCfg()
	cfg.Timeout, cfg.Breaker = 20*time.Millisecond, breaker.Config{Failures: 2, OpenFor: time.Hour}
	reg := newRegistry()
	d := open(t, srv.Addr(), cfg, modbus.WithRegisterer(reg))
	r, err := d.Prepare([]plc.Tag{tag("x", "HR1")})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the breaker to open", func() bool {
		q := readWith(t, r, 1)[0].Quality
		if q.IsGood() {
			t.Fatal("a good sample from a silent device")
		}
		return d.BreakerState() == gobreaker.StateOpen
	})
	if q := readWith(t, r, 1)[0].Quality; q.Reason != plc.ReasonCommFailure {
		t.Errorf("with the breaker open: %v", q)
	}
	if v := gatherValue(t, reg, "kiln_modbus_breaker_state"); v != 2 {
		t.Errorf("kiln_modbus_breaker_state = %v, want 2 (open)", v)
	}
}

func TestCloseIsIdempotentAndRefusesUse(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	d := open(t, srv.Addr(), fastCfg())
	r, err := d.Prepare([]plc.Tag{tag("x", "HR1")})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	_ = d.Close()
	out := make([]plc.Sample, 1)
	if err := r.Read(context.Background(), out); !errors.Is(err, plc.ErrClosed) || out[0].Quality.IsGood() {
		t.Errorf("read after Close: %v, %v", err, out[0].Quality)
	}
	if _, err := d.Prepare(nil); !errors.Is(err, plc.ErrClosed) {
		t.Errorf("Prepare after Close: %v", err)
	}
	if errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("x", "HR1"), Value: plc.UintValue(plc.UInt, 1)}}); !errors.Is(errs[0], plc.ErrClosed) {
		t.Errorf("Write after Close: %v", errs[0])
	}
}

func TestConfigFromDeviceReportsEveryProblemAtItsOptionPath(t *testing.T) {
	dev := func(endpoint string, opts map[string]string) plc.Device {
		return plc.Device{Name: "meter", Driver: "modbus", Endpoint: endpoint, Options: opts}
	}
	_, err := modbus.ConfigFromDevice(dev("", map[string]string{
		"mode": "udp", "unit": "300", "byte_order": "ABDC", "timeout": "soon", "colour": "red", "in_flight": "4",
		"retry.multiplier": "0.5", "breaker.failures": "-1", "reconnect_max": "1s",
	}))
	var got []string
	for _, fe := range config.List(err) {
		got = append(got, fe.Path)
		if !errors.Is(fe, config.ErrInvalid) {
			t.Errorf("%v is not config.ErrInvalid", fe)
		}
	}
	want := []string{"options", "options", "options.timeout", "endpoint", "options.mode", "options.unit", "options.byte_order",
		"options.in_flight", "options.retry.multiplier", "options.breaker.failures"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths %q, want %q:\n%v", got, want, err)
	}
	_, err = modbus.ConfigFromDevice(dev("/dev/ttyUSB0", map[string]string{"mode": "rtu", "unit": "300", "byte_order": "ABDC", "in_flight": "4", "parity": "X"}))
	got = nil
	for _, fe := range config.List(err) {
		got = append(got, fe.Path)
	}
	if want := []string{"options.unit", "options.byte_order", "options.in_flight", "options.parity"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths %q, want %q", got, want)
	}
	c, err := modbus.ConfigFromDevice(dev("10.0.0.7", map[string]string{"mode": "TCP", "unit": "3", "gap": "none", "in_flight": "8", "delay": "5ms", "zero_based": "true", "retry.max": "2s", "breaker.open_for": "3s"}))
	if err != nil || c.Endpoint != "10.0.0.7" || c.Mode != modbus.ModeTCP || c.Unit != 3 || c.Gap != modbus.NoGap || c.InFlight != 8 || c.Delay != 5*time.Millisecond || !c.ZeroBased ||
		c.Retry.Max != 2*time.Second || c.Breaker.OpenFor != 3*time.Second {
		t.Errorf("got %+v, %v", c, err)
	}
}

func TestOpenThroughThePointDatabaseRegistration(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	_ = srv.Set("5!HR3:REAL", plc.FloatValue(plc.Real, 7.5))
	drv, err := plc.Open(plc.Device{Name: "meter", Driver: "modbus", Endpoint: srv.Addr(), Options: map[string]string{"unit": "5"}}, plc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	out := read(t, drv, tag("x", "HR3:REAL"))
	if !out[0].Quality.IsGood() || out[0].Value.Float() != 7.5 {
		t.Errorf("got %v (%v)", out[0].Value, out[0].Quality)
	}
	if _, err := plc.Open(plc.Device{Name: "bad", Driver: "modbus", Endpoint: srv.Addr(), Options: map[string]string{"unit": "x"}}, plc.OpenOptions{}); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("bad option: %v", err)
	}
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// gatherValue returns the value of the one series of the counter or
// gauge name in reg.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%s has %d series, want 1", name, len(mf.GetMetric()))
		}
		if m := mf.GetMetric()[0]; m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		} else if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		t.Fatalf("%s is neither a counter nor a gauge", name)
	}
	t.Fatalf("no metric %s", name)
	return 0
}
