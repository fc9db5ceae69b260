package opcua_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/reconnect"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allTypes has one read-write tag per supported type, and a read-only one.
var allTypes = []plc.Tag{
	{Name: "T.Bool", Type: plc.TypeBool, Access: plc.ReadWrite},
	{Name: "T.Byte", Type: plc.TypeByte, Access: plc.ReadWrite},
	{Name: "T.SInt", Type: plc.DataType{Kind: plc.SInt}, Access: plc.ReadWrite},
	{Name: "T.Int", Type: plc.TypeInt, Access: plc.ReadWrite},
	{Name: "T.UInt", Type: plc.DataType{Kind: plc.UInt}, Access: plc.ReadWrite},
	{Name: "T.Word", Type: plc.TypeWord, Access: plc.ReadWrite},
	{Name: "T.DInt", Type: plc.TypeDInt, Access: plc.ReadWrite},
	{Name: "T.UDInt", Type: plc.DataType{Kind: plc.UDInt}, Access: plc.ReadWrite},
	{Name: "T.DWord", Type: plc.TypeDWord, Access: plc.ReadWrite},
	{Name: "T.LInt", Type: plc.TypeLInt, Access: plc.ReadWrite},
	{Name: "T.ULInt", Type: plc.DataType{Kind: plc.ULInt}, Access: plc.ReadWrite},
	{Name: "T.Real", Type: plc.TypeReal, Access: plc.ReadWrite},
	{Name: "T.LReal", Type: plc.TypeLReal, Access: plc.ReadWrite},
	{Name: "T.String", Type: plc.StringType(20), Access: plc.ReadWrite},
	{Name: "T.Time", Type: plc.DataType{Kind: plc.DateTime}, Access: plc.ReadWrite},
	{Name: "T.Bytes", Type: plc.DataType{Kind: plc.ByteString}, Access: plc.ReadWrite},
	{Name: "Line1.Kiln.Temp", Type: plc.TypeLReal},
}

// startSim starts uasim with tags on a free port and stops it at the end.
func startSim(t *testing.T, cfg uasim.Config, tags []plc.Tag, opts ...uasim.Option) *uasim.Server {
	t.Helper()
	s, err := uasim.New(cfg, tags, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// downSim returns a uasim server with tags that has reserved its port
// and is down; Start brings it up there. It is stopped at the end.
func downSim(t *testing.T, tags []plc.Tag) *uasim.Server {
	t.Helper()
	sim, err := uasim.New(uasim.Config{}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sim.Stop()
	t.Cleanup(func() { sim.Stop() })
	return sim
}

// sessionEvents records a client's session events (WithEvents) for a
// test to take in order.
type sessionEvents chan reconnect.Event

func newSessionEvents() (sessionEvents, opcua.Option) {
	ev := make(sessionEvents, 1000)
	return ev, opcua.WithEvents(func(e reconnect.Event) { ev <- e })
}

// next returns the next event of kind k, skipping others, waiting up to
// 20s for it.
func (ev sessionEvents) next(t *testing.T, k reconnect.EventKind) reconnect.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-ev:
			if e.Kind == k {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event", k)
			return reconnect.Event{}
		}
	}
}

// firstConnectError starts a client with cfg and returns the error of its
// first failed connect attempt; the client must not have connected by
// then.
func firstConnectError(t *testing.T, cfg opcua.Config) error {
	t.Helper()
	ev, withEvents := newSessionEvents()
	c, err := opcua.New(cfg, withEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := ev.next(t, reconnect.Retrying)
	if c.State() == opcua.StateConnected {
		t.Fatal("connected")
	}
	if e.Err == nil {
		t.Fatalf("retrying %v without the failed attempt's error", e)
	}
	return e.Err
}

// fastBackoff reconnects quickly in tests.
var fastBackoff = backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

func newClient(t *testing.T, cfg opcua.Config, opts ...opcua.Option) *opcua.Client {
	t.Helper()
	if cfg.Retry == (backoff.Config{}) {
		cfg.Retry = fastBackoff
	}
	if cfg.CertFile == "" {
		dir := t.TempDir()
		cfg.CertFile, cfg.KeyFile = dir+"/cert.der", dir+"/key.pem"
	}
	c, err := opcua.New(cfg, append([]opcua.Option{opcua.WithLogger(zaptest.NewLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("not connected: %v", err)
	}
	return c
}

func nid(t *testing.T, s string) *ua.NodeID {
	t.Helper()
	id, err := ua.ParseNodeID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestReadWriteEveryType(t *testing.T) {
	sim := startSim(t, uasim.Config{}, allTypes)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	ts := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	want := map[string]plc.Value{
		"T.Bool":   plc.BoolValue(true),
		"T.Byte":   plc.UintValue(plc.Byte, 200),
		"T.SInt":   plc.IntValue(plc.SInt, -100),
		"T.Int":    plc.IntValue(plc.Int, -30000),
		"T.UInt":   plc.UintValue(plc.UInt, 60000),
		"T.Word":   plc.UintValue(plc.Word, 0xBEEF),
		"T.DInt":   plc.IntValue(plc.DInt, -2000000000),
		"T.UDInt":  plc.UintValue(plc.UDInt, 4000000000),
		"T.DWord":  plc.UintValue(plc.DWord, 0xDEADBEEF),
		"T.LInt":   plc.IntValue(plc.LInt, -1<<62),
		"T.ULInt":  plc.UintValue(plc.ULInt, 1<<63),
		"T.Real":   plc.FloatValue(plc.Real, 1.5),
		"T.LReal":  plc.FloatValue(plc.LReal, 3.25),
		"T.String": plc.StringValue("kiln"),
		"T.Time":   plc.TimeValue(ts),
		"T.Bytes":  plc.BytesValue([]byte{1, 2, 3}),
	}
	drv := opcua.NewDriver(c)
	var items []plc.WriteItem
	var tags []plc.Tag
	for _, tg := range allTypes[:len(allTypes)-1] {
		tg.Address = sim.NodeID(tg.Name)
		tags = append(tags, tg)
		items = append(items, plc.WriteItem{Tag: tg, Value: want[tg.Name]})
	}
	ctx := context.Background()
	for i, err := range drv.Write(ctx, items) {
		if err != nil {
			t.Errorf("write %s: %v", items[i].Tag.Name, err)
		}
	}
	for name, v := range want {
		got, err := sim.Get(name)
		if err != nil || !got.Equal(v) {
			t.Errorf("server %s = %v, %v; want %v", name, got, err, v)
		}
	}
	r, err := drv.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, len(tags))
	if err := r.Read(ctx, out); err != nil {
		t.Fatal(err)
	}
	for _, s := range out {
		if !s.Quality.IsGood() || !s.Value.Equal(want[s.Tag]) {
			t.Errorf("read %s = %v (%v); want %v", s.Tag, s.Value, s.Quality, want[s.Tag])
		}
	}
}

func TestWriteReadOnlyRejected(t *testing.T) {
	sim := startSim(t, uasim.Config{}, allTypes)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	drv := opcua.NewDriver(c)
	tag := plc.Tag{Name: "Line1.Kiln.Temp", Address: sim.NodeID("Line1.Kiln.Temp"), Type: plc.TypeLReal}
	errs := drv.Write(context.Background(), []plc.WriteItem{{Tag: tag, Value: plc.FloatValue(plc.LReal, 1)}})
	if !errors.Is(errs[0], ua.StatusBadNotWritable) {
		t.Fatalf("write to read-only node: %v, want BadNotWritable", errs[0])
	}
	// Wrong type straight through the client: the server checks it.
	codes, err := c.Write(context.Background(), []opcua.WriteValue{{NodeID: nid(t, sim.NodeID("T.Int")), Value: plc.StringValue("x")}})
	if err != nil || codes[0] != ua.StatusBadTypeMismatch {
		t.Fatalf("write string to INT: %v %v, want BadTypeMismatch", codes, err)
	}
}

// collector is a plc.Sink that keeps every sample.
type collector struct {
	mu      sync.Mutex
	samples []plc.Sample
	changed chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) WriteSamples(_ context.Context, s []plc.Sample) error {
	c.mu.Lock()
	c.samples = append(c.samples, s...)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) snapshot() []plc.Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]plc.Sample(nil), c.samples...)
}

// waitFor waits until cond holds for the samples so far.
func (c *collector) waitFor(t *testing.T, what string, cond func([]plc.Sample) bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		if cond(c.snapshot()) {
			return
		}
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; samples: %v", what, c.snapshot())
		}
	}
}

// TestReconnectWaitsForTheBackoffDelayOnTheClock starts a client while
// the server is down: it retries only once the delay has passed on the
// clock given with WithClock, not before.
func TestReconnectWaitsForTheBackoffDelayOnTheClock(t *testing.T) {
	sim := downSim(t, []plc.Tag{{Name: "X", Type: plc.TypeLReal}})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ev, withEvents := newSessionEvents()
	dir := t.TempDir()
	c, err := opcua.New(opcua.Config{Endpoint: sim.Endpoint(), CertFile: dir + "/cert.der", KeyFile: dir + "/key.pem",
		Retry: backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1}}, opcua.WithClock(clk), withEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := ev.next(t, reconnect.Retrying); e.In != time.Second || e.Attempt != 1 || e.Err == nil {
		t.Fatalf("first failed attempt: %v, want retrying in 1s (attempt 1) with its error", e)
	}
	clk.BlockUntil(1)
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(999 * time.Millisecond)
	if n := clk.Waiters(); n != 1 || c.State() == opcua.StateConnected {
		t.Fatalf("the backoff wait ended before its delay (%d timers pending, %v)", n, c.State())
	}
	clk.Advance(time.Millisecond)
	ev.next(t, reconnect.Connected)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
}
