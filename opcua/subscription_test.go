package opcua_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/reconnect"
)

var subCfg = opcua.SubscriptionConfig{PublishingInterval: 20 * time.Millisecond}

// last returns the last sample of tag, and whether there is one.
func last(ss []plc.Sample, tag string) (plc.Sample, bool) {
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].Tag == tag {
			return ss[i], true
		}
	}
	return plc.Sample{}, false
}

func hasValue(tag string, v plc.Value) func([]plc.Sample) bool {
	return func(ss []plc.Sample) bool {
		s, ok := last(ss, tag)
		return ok && s.Quality.IsGood() && s.Value.Equal(v)
	}
}

func TestSubscriptionDeliversChanges(t *testing.T) {
	tags := []plc.Tag{{Name: "Line1.Temp", Type: plc.TypeLReal}, {Name: "Line1.Count", Type: plc.TypeDInt}}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	col := newCollector()
	var items []opcua.Item
	for _, tg := range tags {
		tg.Address = sim.NodeID(tg.Name)
		items = append(items, opcua.Item{Tag: tg})
	}
	sub, err := c.Subscribe(context.Background(), subCfg, items, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial values", func(ss []plc.Sample) bool {
		return hasValue("Line1.Temp", plc.FloatValue(plc.LReal, 0))(ss) && hasValue("Line1.Count", plc.IntValue(plc.DInt, 0))(ss)
	})
	for i := 1; i <= 3; i++ {
		v := plc.FloatValue(plc.LReal, float64(i)*1.5)
		if err := sim.Set("Line1.Temp", v); err != nil {
			t.Fatal(err)
		}
		col.waitFor(t, "change", hasValue("Line1.Temp", v))
	}
	if err := sim.Set("Line1.Count", plc.IntValue(plc.LInt, 42)); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "count", hasValue("Line1.Count", plc.IntValue(plc.DInt, 42)))
	// A status from the server arrives as the sample's quality.
	if err := sim.SetStatus("Line1.Count", ua.StatusUncertainLastUsableValue); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "uncertain", func(ss []plc.Sample) bool {
		s, ok := last(ss, "Line1.Count")
		return ok && s.Quality.Status == plc.StatusUncertain && s.Quality.Detail == "UncertainLastUsableValue" && s.Value.Float() == 42
	})
	if err := sim.SetStatus("Line1.Count", ua.StatusBadSensorFailure); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "bad from the server", func(ss []plc.Sample) bool {
		s, ok := last(ss, "Line1.Count")
		return ok && s.Quality.Status == plc.StatusBad && s.Quality.Code == uint32(ua.StatusBadSensorFailure)
	})
	sim.Set("Line1.Count", plc.IntValue(plc.LInt, 43))
	col.waitFor(t, "good again", hasValue("Line1.Count", plc.IntValue(plc.DInt, 43)))
}

func TestSubscriptionHonoursDeadband(t *testing.T) {
	tags := []plc.Tag{{Name: "P", Type: plc.TypeLReal}}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	col := newCollector()
	item := opcua.Item{Tag: plc.Tag{Name: "P", Address: sim.NodeID("P"), Type: plc.TypeLReal}, Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 1}}
	sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{item}, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial value", hasValue("P", plc.FloatValue(plc.LReal, 0)))
	// Within the band of the last reported 0: suppressed by the server.
	for _, f := range []float64{0.5, 0.9, -0.7} {
		sim.Set("P", plc.FloatValue(plc.LReal, f))
	}
	// Beyond it: reported; and it is the next sample after 0.
	sim.Set("P", plc.FloatValue(plc.LReal, 2))
	col.waitFor(t, "value beyond the band", hasValue("P", plc.FloatValue(plc.LReal, 2)))
	for _, s := range col.snapshot() {
		if f := s.Value.Float(); f != 0 && f != 2 {
			t.Errorf("deadband let %v through", f)
		}
	}
}

func TestServerSidePercentDeadband(t *testing.T) {
	lo, hi := 0.0, 200.0
	sim := startSim(t, uasim.Config{}, []plc.Tag{{Name: "Q", Type: plc.TypeLReal, Limits: plc.Limits{Min: &lo, Max: &hi}}, {Name: "R", Type: plc.TypeLReal}})
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	col := newCollector()
	items := []opcua.Item{
		// 1 % of the node's range 0..200 is 2.
		{Tag: plc.Tag{Name: "Q", Address: sim.NodeID("Q"), Type: plc.TypeLReal}, Deadband: plc.Deadband{Mode: plc.DeadbandPercent, Value: 1}},
		// R has no range: the server refuses a percent deadband for it.
		{Tag: plc.Tag{Name: "R", Address: sim.NodeID("R"), Type: plc.TypeLReal}, Deadband: plc.Deadband{Mode: plc.DeadbandPercent, Value: 1}},
	}
	sub, err := c.Subscribe(context.Background(), subCfg, items, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial value", hasValue("Q", plc.FloatValue(plc.LReal, 0)))
	col.waitFor(t, "R refused", func(ss []plc.Sample) bool {
		s, ok := last(ss, "R")
		return ok && s.Quality.Code == uint32(ua.StatusBadDeadbandFilterInvalid)
	})
	sim.Set("Q", plc.FloatValue(plc.LReal, 1.5))
	sim.Set("Q", plc.FloatValue(plc.LReal, 3))
	col.waitFor(t, "value beyond the band", hasValue("Q", plc.FloatValue(plc.LReal, 3)))
	for _, s := range col.snapshot() {
		if s.Tag == "Q" && s.Value.Float() == 1.5 {
			t.Error("percent deadband let 1.5 through")
		}
	}
}

func TestServerRestartRecoversSubscriptions(t *testing.T) {
	tags := []plc.Tag{
		{Name: "A.X", Type: plc.TypeLReal},
		{Name: "A.Y", Type: plc.TypeDInt},
		{Name: "B.Gone", Type: plc.TypeInt},
	}
	sim := startSim(t, uasim.Config{}, tags)
	reg := prometheus.NewRegistry()
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint(), KeepAlive: 100 * time.Millisecond}, opcua.WithRegisterer(reg))
	col := newCollector()
	var items []opcua.Item
	for _, tg := range tags {
		tg.Address = sim.NodeID(tg.Name)
		items = append(items, opcua.Item{Tag: tg})
	}
	sub, err := c.Subscribe(context.Background(), subCfg, items, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sim.Set("A.X", plc.FloatValue(plc.LReal, 1))
	sim.Set("A.Y", plc.IntValue(plc.DInt, 1))
	sim.Set("B.Gone", plc.IntValue(plc.Int, 1))
	for _, tg := range tags {
		col.waitFor(t, tg.Name+" before", func(ss []plc.Sample) bool {
			s, ok := last(ss, tg.Name)
			return ok && s.Quality.IsGood() && s.Value.Float() == 1
		})
	}

	if err := sim.Stop(); err != nil {
		t.Fatal(err)
	}
	// Every subscribed tag goes Bad/comm failure during the outage.
	for _, tg := range tags {
		col.waitFor(t, tg.Name+" bad during outage", func(ss []plc.Sample) bool {
			s, ok := last(ss, tg.Name)
			return ok && s.Quality.Status == plc.StatusBad && s.Quality.Reason == plc.ReasonCommFailure
		})
	}
	if st := c.State(); st == opcua.StateConnected {
		t.Errorf("state during outage = %v", st)
	}
	if err := sim.RemoveNode("B.Gone"); err != nil {
		t.Fatal(err)
	}
	sim.Set("A.X", plc.FloatValue(plc.LReal, 2))
	sim.Set("A.Y", plc.IntValue(plc.DInt, 2))
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The same client (no restart) delivers new values after the outage...
	col.waitFor(t, "A.X after restart", hasValue("A.X", plc.FloatValue(plc.LReal, 2)))
	col.waitFor(t, "A.Y after restart", hasValue("A.Y", plc.IntValue(plc.DInt, 2)))
	sim.Set("A.X", plc.FloatValue(plc.LReal, 3))
	col.waitFor(t, "A.X change after restart", hasValue("A.X", plc.FloatValue(plc.LReal, 3)))
	// ...and the removed node is Bad with the server's status code.
	col.waitFor(t, "B.Gone bad", func(ss []plc.Sample) bool {
		s, ok := last(ss, "B.Gone")
		return ok && s.Quality.Status == plc.StatusBad && s.Quality.Code == uint32(ua.StatusBadNodeIDUnknown)
	})
	s, _ := last(col.snapshot(), "B.Gone")
	if s.Quality.Detail != "BadNodeIdUnknown" || s.Quality.Reason != plc.ReasonConfigError {
		t.Errorf("removed node quality = %v", s.Quality)
	}
	if st := c.State(); st != opcua.StateConnected {
		t.Errorf("state after restart = %v", st)
	}
	for _, m := range []string{"kiln_opcua_reconnects_total", "kiln_opcua_subscription_recreations_total", "kiln_opcua_monitored_item_failures_total"} {
		if v := metricValue(t, reg, m, ""); v < 1 {
			t.Errorf("%s = %v after a restart", m, v)
		}
	}
}

func TestSubscribeWhileDisconnectedReportsBadThenGood(t *testing.T) {
	tags := []plc.Tag{{Name: "X", Type: plc.TypeLReal}}
	sim := downSim(t, tags)
	c, err := opcua.New(opcua.Config{Endpoint: sim.Endpoint(), Retry: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col := newCollector()
	sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{{Tag: plc.Tag{Name: "X", Address: sim.NodeID("X"), Type: plc.TypeLReal}}}, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "bad while down", func(ss []plc.Sample) bool {
		s, ok := last(ss, "X")
		return ok && s.Quality.Reason == plc.ReasonCommFailure
	})
	sim.Set("X", plc.FloatValue(plc.LReal, 7))
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "good once up", hasValue("X", plc.FloatValue(plc.LReal, 7)))
}

func TestReadWhileDisconnectedIsBadPromptly(t *testing.T) {
	tags := []plc.Tag{{Name: "X", Type: plc.TypeLReal}}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	drv := opcua.NewDriver(c)
	r, err := drv.Prepare([]plc.Tag{{Name: "X", Address: sim.NodeID("X"), Type: plc.TypeLReal}, {Name: "Bad", Address: "ns=2;q=1", Type: plc.TypeLReal}})
	if err != nil {
		t.Fatal(err)
	}
	sim.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitState(ctx, opcua.StateDisconnected); err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, 2)
	if err := r.Read(ctx, out); err != nil {
		t.Fatal(err)
	}
	if out[0].Quality.Reason != plc.ReasonCommFailure || out[1].Quality.Reason != plc.ReasonConfigError {
		t.Fatalf("qualities while down: %v, %v", out[0].Quality, out[1].Quality)
	}
	errs := drv.Write(ctx, []plc.WriteItem{{Tag: plc.Tag{Name: "X", Address: sim.NodeID("X"), Type: plc.TypeLReal}, Value: plc.FloatValue(plc.LReal, 1)}})
	if !errors.Is(errs[0], plc.ErrNotConnected) {
		t.Fatalf("write while down: %v", errs[0])
	}
}

func TestDriverSubscribeScalesDeadbandToRaw(t *testing.T) {
	tags := []plc.Tag{{Name: "Level", Type: plc.TypeInt}, {Name: "Flow", Type: plc.TypeLReal}}
	sim := startSim(t, uasim.Config{}, tags)
	reg := prometheus.NewRegistry()
	drvI, err := plc.Open(plc.Device{Name: "wincc", Driver: "opcua", Endpoint: sim.Endpoint()}, plc.OpenOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer drvI.Close()
	drv := drvI.(*opcua.Driver)
	lo, hi := 0.0, 50.0
	level := plc.Tag{Name: "level", Address: sim.NodeID("Level"), Type: plc.TypeInt,
		// raw 0..1000 is 0..100 %: 1 % of engineering units is 10 raw.
		Scaling:  &plc.Scaling{RawMin: 0, RawMax: 1000, EngMin: 0, EngMax: 100},
		Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 1}}
	flow := plc.Tag{Name: "flow", Address: sim.NodeID("Flow"), Type: plc.TypeLReal,
		// 2 % of the 0..50 limits is 1.
		Limits:   plc.Limits{Min: &lo, Max: &hi},
		Deadband: plc.Deadband{Mode: plc.DeadbandPercent, Value: 2}}
	col := newCollector()
	sub, err := drv.Subscribe(context.Background(), subCfg, []plc.Tag{level, flow}, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial values", func(ss []plc.Sample) bool {
		_, a := last(ss, "level")
		_, b := last(ss, "flow")
		return a && b
	})
	sim.Set("Level", plc.IntValue(plc.Int, 9))      // within 10 raw
	sim.Set("Flow", plc.FloatValue(plc.LReal, 0.9)) // within 1
	sim.Set("Level", plc.IntValue(plc.Int, 11))
	sim.Set("Flow", plc.FloatValue(plc.LReal, 1.5))
	col.waitFor(t, "changes beyond the bands", func(ss []plc.Sample) bool {
		return hasValue("level", plc.IntValue(plc.Int, 11))(ss) && hasValue("flow", plc.FloatValue(plc.LReal, 1.5))(ss)
	})
	for _, s := range col.snapshot() {
		if f := s.Value.Float(); f == 9 || f == 0.9 {
			t.Errorf("deadband let %s=%v through", s.Tag, f)
		}
	}
	if v := metricValue(t, reg, "kiln_opcua_connected", "wincc"); v != 1 {
		t.Errorf("kiln_opcua_connected{device=wincc} = %v", v)
	}
}

// metricValue returns the value of a gauge or counter with the given
// device label.
func metricValue(t *testing.T, reg *prometheus.Registry, name, device string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := device == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "device" && l.GetValue() == device)
			}
			if !match {
				continue
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestCloseWithBlockedSink(t *testing.T) {
	sim := startSim(t, uasim.Config{}, []plc.Tag{{Name: "X", Type: plc.TypeLReal}})
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	entered := make(chan struct{}, 1)
	sink := plc.SinkFunc(func(ctx context.Context, _ []plc.Sample) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done() // a sink that never takes the batch
		return ctx.Err()
	})
	sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{{Tag: plc.Tag{Name: "X", Address: sim.NodeID("X"), Type: plc.TypeLReal}}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	sub.Close()
	sub.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(context.Background(), nil); !errors.Is(err, plc.ErrClosed) {
		t.Fatalf("read after close = %v", err)
	}
}

func TestSilentNetworkLossIsDetected(t *testing.T) {
	sim := startSim(t, uasim.Config{}, []plc.Tag{{Name: "X", Type: plc.TypeLReal}})
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint(), KeepAlive: 200 * time.Millisecond, RequestTimeout: 500 * time.Millisecond})
	col := newCollector()
	sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{{Tag: plc.Tag{Name: "X", Address: sim.NodeID("X"), Type: plc.TypeLReal}}}, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial value", hasValue("X", plc.FloatValue(plc.LReal, 0)))
	sim.Blackhole(true)
	col.waitFor(t, "bad while the network is silent", func(ss []plc.Sample) bool {
		s, ok := last(ss, "X")
		return ok && s.Quality.Reason == plc.ReasonCommFailure
	})
	sim.Set("X", plc.FloatValue(plc.LReal, 9))
	sim.Blackhole(false)
	col.waitFor(t, "good after the network is back", hasValue("X", plc.FloatValue(plc.LReal, 9)))
}

// gopcua can park its publish loop for good while the session stays up
// (gopcua#895); the client wakes it on its keep-alive tick, so changes
// keep arriving.
func TestStalledPublishLoopIsWoken(t *testing.T) {
	tags := []plc.Tag{{Name: "Line1.Temp", Type: plc.TypeLReal}}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint(), KeepAlive: 100 * time.Millisecond})
	col := newCollector()
	sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{{Tag: plc.Tag{Name: "Line1.Temp", Type: plc.TypeLReal, Address: sim.NodeID("Line1.Temp")}}}, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	col.waitFor(t, "initial value", hasValue("Line1.Temp", plc.FloatValue(plc.LReal, 0)))
	if err := opcua.PausePublishLoop(c); err != nil {
		t.Fatal(err)
	}
	// The pending Publish returns with this change; then the loop parks.
	v := plc.FloatValue(plc.LReal, 1)
	if err := sim.Set("Line1.Temp", v); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "change before the pause", hasValue("Line1.Temp", v))
	for i := 2; i <= 4; i++ {
		v := plc.FloatValue(plc.LReal, float64(i))
		if err := sim.Set("Line1.Temp", v); err != nil {
			t.Fatal(err)
		}
		col.waitFor(t, "change after the pause", hasValue("Line1.Temp", v))
	}
}

// A service call that fails as a whole leaves its items Bad with the
// server's code, never silent; they come good once the server takes the
// call again. gopcua drops the channel on a ServiceFault, so each refusal
// also ends the session: the client reconnects with a growing backoff,
// not in a tight loop.
func TestRefusedCallsReportItemsBad(t *testing.T) {
	tags := []plc.Tag{{Name: "Line1.Temp", Type: plc.TypeLReal}}
	for _, tc := range []struct {
		name    string
		service uasim.Service
		address func(*uasim.Server) string
	}{
		{"translate browse paths", uasim.TranslateBrowsePaths, func(*uasim.Server) string { return "/2:Line1/Temp" }},
		{"create monitored items", uasim.CreateMonitoredItems, func(s *uasim.Server) string { return s.NodeID("Line1.Temp") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, uasim.Config{}, tags)
			ev, withEvents := newSessionEvents()
			c := newClient(t, opcua.Config{Endpoint: sim.Endpoint(), KeepAlive: 100 * time.Millisecond}, withEvents)
			sim.Refuse(tc.service, ua.StatusBadTooManyOperations)
			col := newCollector()
			sub, err := c.Subscribe(context.Background(), subCfg, []opcua.Item{{Tag: plc.Tag{Name: "Line1.Temp", Type: plc.TypeLReal, Address: tc.address(sim)}}}, col)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			col.waitFor(t, "bad with the server's code", func(ss []plc.Sample) bool {
				s, ok := last(ss, "Line1.Temp")
				return ok && s.Quality.Status == plc.StatusBad && s.Quality.Code == uint32(ua.StatusBadTooManyOperations)
			})
			// Retrying without an attempt's error follows a short session.
			var delays []time.Duration
			for len(delays) < 4 {
				if e := ev.next(t, reconnect.Retrying); e.Err == nil {
					delays = append(delays, e.In)
				}
			}
			sim.Refuse(tc.service, 0)
			col.waitFor(t, "good once taken", hasValue("Line1.Temp", plc.FloatValue(plc.LReal, 0)))
			if len(delays) < 4 || slices.Max(delays) < 2*fastBackoff.Initial {
				t.Errorf("retry delays after short sessions: %v, want at least 4, growing from %v", delays, fastBackoff.Initial)
			}
		})
	}
}
