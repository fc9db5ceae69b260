package edge_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/mqtttest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
	"github.com/kiln-iot/kiln/transport/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fast = backoff.Config{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}

func devices() []edge.Device {
	lo, hi := 0.0, 1200.0
	return []edge.Device{
		{ID: "plc1", Tags: []plc.Tag{
			{Name: "Kiln.Temp", Device: "plc1", Type: plc.TypeReal, Unit: "°C", Description: "burning zone", Limits: plc.Limits{Min: &lo, Max: &hi}},
			{Name: "Kiln.Setpoint", Device: "plc1", Type: plc.TypeReal, Access: plc.ReadWrite, Limits: plc.Limits{Min: &lo, Max: &hi}},
		}},
		{ID: "wincc", Tags: []plc.Tag{{Name: "Fan.Running", Device: "wincc", Type: plc.TypeBool}}},
	}
}

// recorder is a raw MQTT client that keeps every Sparkplug message it sees.
type recorder struct {
	t      *testing.T
	client mqtt.Client
	mu     sync.Mutex
	msgs   []rec
}

type rec struct {
	topic sparkplug.Topic
	p     *spb.Payload
}

func record(t *testing.T, b *mqtttest.Broker, filter string) *recorder {
	t.Helper()
	r := &recorder{t: t}
	r.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprintf("rec-%p", r)).SetOrderMatters(true))
	if tok := r.client.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder connect: %v", tok.Error())
	}
	tok := r.client.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		tp, err := sparkplug.ParseTopic(m.Topic())
		if err != nil || tp.Type == sparkplug.STATE {
			return
		}
		p, err := sparkplug.Decode(m.Topic(), m.Payload())
		if err != nil {
			t.Errorf("undecodable payload on %s: %v", m.Topic(), err)
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, rec{tp, p})
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("recorder subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { r.client.Disconnect(100) })
	return r
}

func (r *recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.msgs...)
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recorder) count(typ sparkplug.MessageType) int {
	n := 0
	for _, m := range r.all() {
		if m.topic.Type == typ {
			n++
		}
	}
	return n
}

func batch(seq uint64, samples ...plc.Sample) transport.Message {
	return wire.ToMessage(&wire.Batch{Source: "gw1", Tenant: "acme", Seq: seq, Samples: samples}, nil)
}

func sample(tag string, v float64, ts time.Time) plc.Sample {
	return plc.Sample{Tag: tag, Value: plc.FloatValue(plc.Real, v), Quality: plc.Good, Time: ts}
}

// publish hands msgs to the node and returns each message's outcome.
func publish(t *testing.T, n *edge.Node, msgs ...transport.Message) []error {
	t.Helper()
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	if err := n.Publish(context.Background(), msgs, func(i int, err error) { errs[i] = err; wg.Done() }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return errs
}

func serve(t *testing.T, s interface{ Serve(context.Context) error }) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestBirthsDataRebirthAndDeathCarryTheRightSequences(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	r := record(t, b, "spBv1.0/acme/#")
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", Retry: fast},
		devices(), edge.WithLogger(zaptest.NewLogger(t)), edge.WithBdSeq(7))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	node.Observe([]plc.Sample{sample("Kiln.Temp", 840, now)})
	stop := serve(t, node)
	waitFor(t, "births", func() bool { return r.count(sparkplug.DBIRTH) == 2 })
	waitFor(t, "node online", node.Online)
	if errs := publish(t, node, batch(1, sample("Kiln.Temp", 841, time.Now()), sample("Kiln.Setpoint", 850, time.Now()))); errs[0] != nil {
		t.Fatalf("publish: %v", errs[0])
	}
	waitFor(t, "DDATA", func() bool { return r.count(sparkplug.DDATA) == 1 })

	// A rebirth request starts the sequence over with the same bdSeq.
	cmd := &spb.Payload_Metric{Name: sparkplug.Name(sparkplug.MetricRebirth)}
	sparkplug.SetValue(cmd, sparkplug.TypeBoolean, plc.BoolValue(true))
	data, _ := sparkplug.Encode(&spb.Payload{Metrics: []*spb.Payload_Metric{cmd}})
	r.client.Publish("spBv1.0/acme/NCMD/gw1", 0, false, data).WaitTimeout(10 * time.Second)
	waitFor(t, "rebirth", func() bool { return r.count(sparkplug.NBIRTH) == 2 && r.count(sparkplug.DBIRTH) == 4 })
	stop()
	waitFor(t, "NDEATH", func() bool { return r.count(sparkplug.NDEATH) == 1 })

	var seqs []string
	var bdBirth, bdDeath []int64
	for _, m := range r.all() {
		if m.topic.Type == sparkplug.NCMD {
			continue // the recorder's own request
		}
		seqs = append(seqs, fmt.Sprintf("%s:%d", m.topic.Type, m.p.GetSeq()))
		for _, pm := range m.p.Metrics {
			if pm.GetName() == sparkplug.MetricBdSeq {
				v, _ := sparkplug.Value(pm, sparkplug.TypeInt64)
				i, _ := v.Int()
				if m.topic.Type == sparkplug.NBIRTH {
					bdBirth = append(bdBirth, i)
				} else {
					bdDeath = append(bdDeath, i)
				}
			}
		}
		if m.topic.Type == sparkplug.DBIRTH && m.topic.Device == "plc1" {
			temp := m.p.Metrics[0]
			if temp.GetName() != "Kiln.Temp" || temp.Alias == nil || sparkplug.Property(temp, sparkplug.PropEngUnit).GetStringValue() != "°C" ||
				sparkplug.Property(temp, sparkplug.PropEngHigh).GetDoubleValue() != 1200 || !sparkplug.Property(temp, sparkplug.PropReadOnly).GetBooleanValue() {
				t.Errorf("DBIRTH metric %v lacks name, alias or properties", temp)
			}
		}
		if m.topic.Type == sparkplug.DDATA {
			for _, pm := range m.p.Metrics {
				if pm.Name != nil || pm.Alias == nil {
					t.Errorf("DDATA metric %v not by alias alone", pm)
				}
			}
		}
	}
	want := "[NBIRTH:0 DBIRTH:1 DBIRTH:2 DDATA:3 NBIRTH:0 DBIRTH:1 DBIRTH:2 NDEATH:0]"
	if got := fmt.Sprint(seqs); got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
	if fmt.Sprint(bdBirth) != "[7 7]" || fmt.Sprint(bdDeath) != "[7]" {
		t.Errorf("bdSeq in births %v and death %v, want 7 everywhere", bdBirth, bdDeath)
	}
}

func TestADroppedDeviceDiesAndIsBornAgain(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	r := record(t, b, "spBv1.0/acme/#")
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", Retry: fast}, devices())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, node)
	waitFor(t, "births", func() bool { return r.count(sparkplug.DBIRTH) == 2 })
	down := plc.Bad(plc.ReasonCommFailure, "connection refused")
	node.Observe([]plc.Sample{{Tag: "Kiln.Temp", Quality: down, Time: time.Now()}, {Tag: "Kiln.Setpoint", Quality: down, Time: time.Now()}})
	waitFor(t, "DDEATH", func() bool { return r.count(sparkplug.DDEATH) == 1 })
	node.Observe([]plc.Sample{sample("Kiln.Temp", 800, time.Now())})
	waitFor(t, "DBIRTH again", func() bool { return r.count(sparkplug.DBIRTH) == 3 })
	msgs := r.all()
	last := msgs[len(msgs)-1]
	if last.topic.Type != sparkplug.DBIRTH || last.topic.Device != "plc1" {
		t.Errorf("last message %s, want DBIRTH of plc1", last.topic)
	}
	for _, m := range msgs {
		if m.topic.Type == sparkplug.DDEATH && m.topic.Device != "plc1" {
			t.Errorf("DDEATH of %s, want plc1 only", m.topic.Device)
		}
	}
}

// collector is a host handler that keeps what it is handed.
type collector struct {
	batches    map[sparkplug.BatchID]int
	mu         sync.Mutex
	byTagTime  map[string]int
	historical int
	values     map[string]plc.Value
	deliveries []host.Delivery
}

func newCollector() *collector {
	return &collector{byTagTime: map[string]int{}, values: map[string]plc.Value{}, batches: map[sparkplug.BatchID]int{}}
}

func (c *collector) handle(_ context.Context, d host.Delivery) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliveries = append(c.deliveries, d)
	c.historical += d.Historical
	if d.Batch != nil {
		c.batches[*d.Batch]++
	}
	for _, s := range d.Samples {
		if d.Type == sparkplug.DDATA {
			c.byTagTime[fmt.Sprintf("%s@%d", s.Tag, s.Time.UnixMilli())]++
		}
		c.values[s.Tag] = s.Value
	}
	return nil
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byTagTime)
}

func TestTheNodeWaitsForItsHostAndReplaysHistoryWhenItReturns(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln", Retry: fast}, devices())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, node)
	// No host yet: nothing is accepted, so the spool keeps it.
	t0 := time.Now().Add(-time.Minute)
	buffered := []transport.Message{batch(1, sample("Kiln.Temp", 1, t0)), batch(2, sample("Kiln.Temp", 2, t0.Add(time.Second)))}
	for _, err := range publish(t, node, buffered...) {
		if !errors.Is(err, edge.ErrOffline) {
			t.Fatalf("publish before the host is online = %v, want ErrOffline", err)
		}
	}
	c := newCollector()
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "tenant-a"}, Retry: fast}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	stopHost := serve(t, h)
	waitFor(t, "node online after the host's STATE", node.Online)
	for _, err := range publish(t, node, buffered...) {
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if errs := publish(t, node, batch(3, sample("Kiln.Temp", 3, time.Now()))); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waitFor(t, "three samples at the host", func() bool { return c.distinct() == 3 })
	c.mu.Lock()
	if c.historical != 2 {
		t.Errorf("%d historical samples, want the 2 replayed", c.historical)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if id := (sparkplug.BatchID{Source: "gw1/plc1", Seq: seq}); c.batches[id] != 1 {
			t.Errorf("batch %v delivered %d times, want once with its id", id, c.batches[id])
		}
	}
	if d := c.deliveries[0]; d.Tenant != "tenant-a" || d.Type != sparkplug.NBIRTH && d.Type != sparkplug.DBIRTH {
		t.Errorf("first delivery %+v", d)
	}
	c.mu.Unlock()

	// The host goes away: the node dies on its offline STATE and takes
	// nothing more until the host is back.
	stopHost()
	waitFor(t, "node offline", func() bool { return !node.Online() })
	if errs := publish(t, node, batch(4, sample("Kiln.Temp", 4, time.Now()))); !errors.Is(errs[0], edge.ErrOffline) {
		t.Fatalf("publish with the host offline = %v, want ErrOffline", errs[0])
	}
}

func TestASequenceGapMakesTheHostAskForARebirth(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	r := record(t, b, "spBv1.0/acme/#")
	c := newCollector()
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "a"}, Retry: fast}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h)
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln", Retry: fast}, devices(), edge.WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, node)
	waitFor(t, "births", func() bool { return r.count(sparkplug.DBIRTH) == 2 })
	waitFor(t, "host saw the births", func() bool {
		for _, n := range h.Nodes() {
			if n.Node == "gw1" && n.Online && n.Devices["plc1"] && n.Devices["wincc"] {
				return true
			}
		}
		return false
	})
	// A DDATA with seq 200 where 3 is due: a message was lost.
	m := &spb.Payload_Metric{Alias: sparkplug.Uint64(1), Timestamp: sparkplug.Millis(time.Now())}
	sparkplug.SetValue(m, sparkplug.TypeFloat, plc.FloatValue(plc.Real, 5))
	data, _ := sparkplug.Encode(&spb.Payload{Seq: sparkplug.Uint64(200), Metrics: []*spb.Payload_Metric{m}})
	r.client.Publish("spBv1.0/acme/DDATA/gw1/plc1", 0, false, data).WaitTimeout(10 * time.Second)
	waitFor(t, "a rebirth", func() bool { return r.count(sparkplug.NBIRTH) == 2 })
	if r.count(sparkplug.NCMD) < 1 {
		t.Error("no NCMD seen")
	}
}

func TestWritesFromTheHostAreCheckedAndAnswered(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	var mu sync.Mutex
	plcMemory := map[string]float64{"Kiln.Setpoint": 850}
	write := func(_ context.Context, device, tag string, v plc.Value) (plc.Value, error) {
		if tag != "Kiln.Setpoint" || device != "plc1" {
			return plc.Value{}, errors.New("read-only")
		}
		if f := v.Float(); f > 1200 {
			return plc.Value{}, fmt.Errorf("%g above the limit 1200", f)
		}
		mu.Lock()
		defer mu.Unlock()
		plcMemory[tag] = v.Float()
		return plc.FloatValue(plc.Real, plcMemory[tag]), nil
	}
	c := newCollector()
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "a"}, Retry: fast}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h)
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln", Retry: fast}, devices(), edge.WithWrites(write))
	if err != nil {
		t.Fatal(err)
	}
	node.Observe([]plc.Sample{sample("Kiln.Setpoint", 850, time.Now())})
	serve(t, node)
	waitFor(t, "births at the host", func() bool {
		for _, n := range h.Nodes() {
			if n.Online && n.Devices["plc1"] {
				return true
			}
		}
		return false
	})
	if err := h.Write(context.Background(), "acme", "gw1", "Kiln.Setpoint", plc.FloatValue(plc.LReal, 900)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the written value answered", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.values["Kiln.Setpoint"].Float() == 900
	})
	if err := h.Write(context.Background(), "acme", "gw1", "Kiln.Setpoint", plc.FloatValue(plc.LReal, 5000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal answered", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for _, d := range c.deliveries {
			if d.Type == sparkplug.DDATA {
				n++
			}
		}
		return n >= 2
	})
	mu.Lock()
	if plcMemory["Kiln.Setpoint"] != 900 {
		t.Errorf("PLC holds %g, want 900: the refused write reached it", plcMemory["Kiln.Setpoint"])
	}
	mu.Unlock()
	c.mu.Lock()
	if got := c.values["Kiln.Setpoint"].Float(); got != 900 {
		t.Errorf("answer to the refused write %g, want the kept 900", got)
	}
	c.mu.Unlock()
	if err := h.Write(context.Background(), "acme", "gw1", "No.Such", plc.BoolValue(true)); !errors.Is(err, host.ErrUnknownMetric) {
		t.Errorf("write of an unknown metric = %v", err)
	}
}

func TestOneTenantCannotPublishIntoAnothersGroup(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{
		Users: map[string]string{"gw-a": "a", "gw-b": "b", "kiln": "k"},
		ACL: "user gw-a\ntopic readwrite spBv1.0/tenant-a/#\ntopic read spBv1.0/STATE/#\n" +
			"user gw-b\ntopic readwrite spBv1.0/tenant-b/#\ntopic read spBv1.0/STATE/#\n" +
			"user kiln\ntopic readwrite spBv1.0/#",
	})
	c := newCollector()
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Username: "kiln", Password: "k",
		Groups: map[string]string{"tenant-a": "a", "tenant-b": "b"}, Retry: fast}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h)
	// gw-a's credentials, configured into tenant B's group: the broker drops
	// everything it publishes there.
	intruder, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "tenant-b", NodeID: "evil", PrimaryHost: "kiln",
		Username: "gw-a", Password: "a", Retry: fast}, devices())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, intruder)
	honest, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "tenant-a", NodeID: "gw1", PrimaryHost: "kiln",
		Username: "gw-a", Password: "a", Retry: fast}, devices())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, honest)
	waitFor(t, "both nodes online", func() bool { return intruder.Online() && honest.Online() })
	publish(t, intruder, batch(1, sample("Kiln.Temp", 666, time.Now())))
	publish(t, honest, batch(1, sample("Kiln.Temp", 42, time.Now())))
	waitFor(t, "tenant A's sample", func() bool { return c.distinct() >= 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.deliveries {
		if d.Group != "tenant-a" || d.Tenant != "a" {
			t.Errorf("delivery of group %s (tenant %s) reached the host", d.Group, d.Tenant)
		}
	}
}
