package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/reconnect"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/internal/mqttconn"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
)

// Defaults of Config.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 15 * time.Second
)

var (
	// ErrUnknownNode is returned by Write for a node that has no birth.
	ErrUnknownNode = errors.New("sparkplug/host: node not born")
	// ErrUnknownMetric is returned by Write for a metric the node's births
	// did not announce.
	ErrUnknownMetric = errors.New("sparkplug/host: metric not in the births")
	// ErrNotConnected is returned by Write while the host is not connected.
	ErrNotConnected = errors.New("sparkplug/host: not connected")
	// ErrServing is returned by a second Serve.
	ErrServing = errors.New("sparkplug/host: already serving")
)

// Config is a host application's MQTT settings and the groups it serves.
type Config struct {
	// Servers are the MQTT brokers, tried in order. Required.
	Servers []string `yaml:"servers"`
	// HostID names the host in its STATE topic (spBv1.0/STATE/<host_id>);
	// edge nodes name it as their primary host. Required.
	HostID string `yaml:"host_id"`
	// Groups maps each Sparkplug group id the host serves to the tenant its
	// data belongs to. Messages of other groups are dropped and counted.
	// At least one.
	Groups map[string]string `yaml:"groups"`
	// ClientID is the MQTT client id (default the host id).
	ClientID string        `yaml:"client_id"`
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	TLS      sparkplug.TLS `yaml:"tls"`
	// KeepAlive is the MQTT keep-alive (default 30s).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt (default 15s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Retry paces reconnection attempts and retries of a failing handler.
	Retry backoff.Config `yaml:"retry"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	mqttconn.CheckServers(&p, c.Servers)
	if err := sparkplug.CheckID("host", c.HostID); err != nil {
		p.Add("host_id", "%s", err.(*sparkplug.TopicError).Reason)
	}
	if len(c.Groups) == 0 {
		p.Add("groups", "is required: map each group id to its tenant")
	}
	groups := make([]string, 0, len(c.Groups))
	for g := range c.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if err := sparkplug.CheckID("group", g); err != nil {
			p.Add("groups."+g, "%s", err.(*sparkplug.TopicError).Reason)
		}
		if c.Groups[g] == "" {
			p.Add("groups."+g, "names no tenant")
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.Add("tls", "cert_file and key_file go together")
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

// Delivery is what one Sparkplug message carried, for the handler.
type Delivery struct {
	Tenant, Group, Node, Device string
	// Type is the message type it came in.
	Type sparkplug.MessageType
	// BdSeq is the node's birth/death sequence number, Seq the message's.
	BdSeq, Seq uint64
	// Samples are the metrics as kiln samples (tag = metric name), in
	// message order. After a death they are the node's or device's
	// metrics marked Bad (comm failure) at the time of death.
	Samples []plc.Sample
	// Historical counts the samples flagged is_historical (replayed after
	// an outage).
	Historical int
	// Batch is the kiln batch a DDATA of a kiln edge node carries (its
	// payload's uuid), so the historian stores a replayed batch once; nil
	// for other messages and other edge nodes.
	Batch *sparkplug.BatchID
}

// Handler takes deliveries in order per node. An error is retried with
// Config.Retry until it succeeds or the host stops, holding later
// messages back, so nothing handed to the host is skipped.
type Handler func(ctx context.Context, d Delivery) error

// Option sets a code-only setting.
type Option func(*Host)

// WithLogger logs births, deaths, gaps and refusals.
func WithLogger(l *zap.Logger) Option { return func(h *Host) { h.log = l } }

// WithClock sets the clock of STATE timestamps and retry delays.
func WithClock(c clock.Clock) Option { return func(h *Host) { h.clk = c } }

type nodeKey struct{ group, node string }

type nodeState struct {
	born    bool
	bdSeq   uint64
	seq     uint64
	names   map[uint64]string             // alias → metric name
	types   map[string]sparkplug.DataType // by metric name
	device  map[string]string             // metric → device ("" for node metrics)
	devices map[string]bool               // alive
	last    time.Time
}

// NodeStatus is what the host knows of one edge node.
type NodeStatus struct {
	Group, Node, Tenant string
	Online              bool
	BdSeq               uint64
	Devices             map[string]bool // alive
	LastSeen            time.Time
}

// Host is a Sparkplug B host application: it publishes its STATE,
// follows every node's births, deaths and sequence, asks for a rebirth
// when it misses a message, hands the data to its Handler and writes to
// nodes with NCMD and DCMD.
type Host struct {
	cfg     Config
	log     *zap.Logger
	clk     clock.Clock
	handler Handler

	serveMu sync.Mutex
	serving bool

	mu     sync.Mutex
	client mqtt.Client
	nodes  map[nodeKey]*nodeState

	in chan mqtt.Message

	dropped  *prometheus.CounterVec
	rebirths *prometheus.CounterVec
	messages *prometheus.CounterVec
}

// New makes a host.
func New(cfg Config, handler Handler, opts ...Option) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.HostID
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	h := &Host{
		cfg: cfg, log: zap.NewNop(), clk: clock.Real, handler: handler,
		nodes: map[nodeKey]*nodeState{}, in: make(chan mqtt.Message, 1024),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_sparkplug_host_dropped_total",
			Help: "Messages the host dropped, by reason (unknown_group, bad_topic, bad_payload, before_birth)."}, []string{"reason"}),
		rebirths: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_sparkplug_host_rebirths_requested_total",
			Help: "Rebirths the host asked for, by reason (seq_gap, before_birth)."}, []string{"reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_sparkplug_host_messages_total",
			Help: "Sparkplug messages handled, by tenant and type."}, []string{"tenant", "type"}),
	}
	for _, o := range opts {
		o(h)
	}
	h.clk = clock.Or(h.clk)
	return h, nil
}

// Describe implements prometheus.Collector.
func (h *Host) Describe(ch chan<- *prometheus.Desc) {
	h.dropped.Describe(ch)
	h.rebirths.Describe(ch)
	h.messages.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *Host) Collect(ch chan<- prometheus.Metric) {
	h.dropped.Collect(ch)
	h.rebirths.Collect(ch)
	h.messages.Collect(ch)
}

// Serve connects, publishes the host's STATE and handles messages until
// ctx is done; then it publishes its offline STATE and disconnects.
func (h *Host) Serve(ctx context.Context) error {
	h.serveMu.Lock()
	if h.serving {
		h.serveMu.Unlock()
		return ErrServing
	}
	h.serving = true
	h.serveMu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-wctx.Done():
				return
			case m := <-h.in:
				h.handle(wctx, m)
			}
		}
	}()

	// kiln's one session loop, each attempt on the next server of the list.
	server := 0
	loop, err := reconnect.New(reconnect.Config{Retry: h.cfg.Retry}, func(ctx context.Context) (reconnect.Hold, error) {
		s := h.cfg.Servers[server%len(h.cfg.Servers)]
		server++
		return h.dial(ctx, s)
	}, reconnect.WithClock(h.clk), reconnect.WithLogger(h.log, "sparkplug host: "))
	if err != nil {
		return err
	}
	return loop.Serve(ctx)
}

// dial connects to server, subscribes to the host's groups and publishes
// its online STATE; the Hold it returns keeps the session until it is
// lost or ctx ends, then publishes the offline STATE.
func (h *Host) dial(ctx context.Context, server string) (reconnect.Hold, error) {
	ts := h.clk.Now().UnixMilli()
	stateTopic := sparkplug.StateTopic(h.cfg.HostID).String()
	tlsCfg, err := h.cfg.TLS.Config()
	if err != nil {
		return nil, err
	}
	lost := make(chan error, 1)
	opts := mqttconn.Options(mqttconn.Params{Server: server, ClientID: h.cfg.ClientID, Username: h.cfg.Username, Password: h.cfg.Password,
		TLS: tlsCfg, KeepAlive: h.cfg.KeepAlive, ConnectTimeout: h.cfg.ConnectTimeout,
		WillTopic: stateTopic, Will: sparkplug.EncodeState(sparkplug.State{Online: false, Timestamp: ts}), WillRetained: true,
		OnLost: func(err error) {
			select {
			case lost <- err:
			default:
			}
		}})
	client := mqtt.NewClient(opts)
	if err := mqttconn.Wait(ctx, client.Connect(), h.cfg.ConnectTimeout+5*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("sparkplug host: connect %s: %w", server, err)
	}
	subs := map[string]byte{}
	for g := range h.cfg.Groups {
		subs[sparkplug.Namespace+"/"+g+"/#"] = 1
	}
	// Messages go to one goroutine in arrival order; paho's own goroutine
	// only queues them.
	if err := mqttconn.Wait(ctx, client.SubscribeMultiple(subs, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case h.in <- m:
		case <-ctx.Done():
		}
	}), 20*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("sparkplug host: subscribe: %w", err)
	}
	// STATE online only after the subscriptions, so no birth prompted by it
	// is missed (Sparkplug 3.0).
	if err := mqttconn.Wait(ctx, client.Publish(stateTopic, 1, true, sparkplug.EncodeState(sparkplug.State{Online: true, Timestamp: ts})), 20*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("sparkplug host: STATE: %w", err)
	}
	h.mu.Lock()
	h.client = client
	h.mu.Unlock()
	h.log.Info("sparkplug host: online", zap.String("server", server), zap.String("host_id", h.cfg.HostID))
	return func(ctx context.Context) error {
		defer func() {
			h.mu.Lock()
			h.client = nil
			h.mu.Unlock()
		}()
		select {
		case <-ctx.Done():
			client.Publish(stateTopic, 1, true, sparkplug.EncodeState(sparkplug.State{Online: false, Timestamp: ts})).WaitTimeout(5 * time.Second)
			client.Disconnect(250)
			return nil
		case err := <-lost:
			client.Disconnect(0)
			return fmt.Errorf("sparkplug host: connection lost: %w", err)
		}
	}, nil
}

// handle processes one message in order.
func (h *Host) handle(ctx context.Context, msg mqtt.Message) {
	t, err := sparkplug.ParseTopic(msg.Topic())
	if err != nil {
		h.dropped.WithLabelValues("bad_topic").Inc()
		return
	}
	if t.Type == sparkplug.STATE || t.Type == sparkplug.NCMD || t.Type == sparkplug.DCMD {
		return // other hosts' states and commands, ours included
	}
	tenant, ok := h.cfg.Groups[t.Group]
	if !ok {
		h.dropped.WithLabelValues("unknown_group").Inc()
		h.log.Warn("sparkplug host: message of a group no tenant owns dropped", zap.String("topic", msg.Topic()))
		return
	}
	p, err := sparkplug.Decode(msg.Topic(), msg.Payload())
	if err != nil {
		h.dropped.WithLabelValues("bad_payload").Inc()
		h.log.Warn("sparkplug host: bad payload dropped", zap.Error(err))
		return
	}
	h.messages.WithLabelValues(tenant, string(t.Type)).Inc()
	d, ok := h.track(t, tenant, p)
	if !ok || len(d.Samples) == 0 {
		return
	}
	for attempt := 0; ; attempt++ {
		err := h.handler(ctx, d)
		if err == nil {
			return
		}
		delay := backoff.Delay(h.cfg.Retry, attempt, rand.Float64())
		h.log.Warn("sparkplug host: handler failed; retrying", zap.String("topic", msg.Topic()), zap.Error(err), zap.Duration("retry_in", delay))
		if backoff.Sleep(ctx, h.clk, delay) != nil {
			return
		}
	}
}

// track updates the node's state from a message and returns the delivery
// it makes, or false when the message is dropped.
func (h *Host) track(t sparkplug.Topic, tenant string, p *spb.Payload) (Delivery, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := nodeKey{t.Group, t.Node}
	ns := h.nodes[key]
	if ns == nil {
		ns = &nodeState{}
		h.nodes[key] = ns
	}
	ns.last = h.clk.Now()
	d := Delivery{Tenant: tenant, Group: t.Group, Node: t.Node, Device: t.Device, Type: t.Type, Seq: p.GetSeq(), BdSeq: ns.bdSeq}
	switch t.Type {
	case sparkplug.NBIRTH:
		bd, ok := bdSeqOf(p)
		if !ok {
			h.dropped.WithLabelValues("bad_payload").Inc()
			return d, false
		}
		*ns = nodeState{born: true, bdSeq: bd, seq: p.GetSeq(), names: map[uint64]string{}, types: map[string]sparkplug.DataType{},
			device: map[string]string{}, devices: map[string]bool{}, last: ns.last}
		d.BdSeq = bd
		h.learn(ns, "", p)
		d.Samples = h.samples(ns, p, &d)
		h.log.Info("sparkplug host: node born", zap.String("group", t.Group), zap.String("node", t.Node), zap.Uint64("bdSeq", bd))
		return d, true
	case sparkplug.NDEATH:
		bd, ok := bdSeqOf(p)
		if !ok || !ns.born || bd != ns.bdSeq {
			return d, false // a will of an older session
		}
		ns.born = false
		d.Samples = h.stale(ns, "", p)
		for dev := range ns.devices {
			ns.devices[dev] = false
		}
		h.log.Warn("sparkplug host: node dead", zap.String("group", t.Group), zap.String("node", t.Node))
		return d, true
	}
	if !ns.born {
		h.dropped.WithLabelValues("before_birth").Inc()
		h.rebirthLocked(t.Group, t.Node, "before_birth")
		return d, false
	}
	if want := (ns.seq + 1) % 256; p.GetSeq() != want {
		h.log.Warn("sparkplug host: sequence gap; asking for a rebirth", zap.String("group", t.Group), zap.String("node", t.Node),
			zap.Uint64("want", want), zap.Uint64("got", p.GetSeq()))
		h.rebirthLocked(t.Group, t.Node, "seq_gap")
	}
	ns.seq = p.GetSeq()
	switch t.Type {
	case sparkplug.DBIRTH:
		h.learn(ns, t.Device, p)
		ns.devices[t.Device] = true
		d.Samples = h.samples(ns, p, &d)
	case sparkplug.DDEATH:
		ns.devices[t.Device] = false
		d.Samples = h.stale(ns, t.Device, p)
	case sparkplug.NDATA, sparkplug.DDATA:
		d.Samples = h.samples(ns, p, &d)
		if id, ok := sparkplug.ParseBatchID(p.GetUuid()); ok {
			d.Batch = &id
		}
	}
	return d, true
}

func bdSeqOf(p *spb.Payload) (uint64, bool) {
	for _, m := range p.GetMetrics() {
		if m.GetName() == sparkplug.MetricBdSeq {
			if lv, ok := m.GetValue().(*spb.Payload_Metric_LongValue); ok {
				return lv.LongValue, true
			}
			if iv, ok := m.GetValue().(*spb.Payload_Metric_IntValue); ok {
				return uint64(iv.IntValue), true
			}
		}
	}
	return 0, false
}

// learn records the names, aliases and types a birth announces.
func (h *Host) learn(ns *nodeState, device string, p *spb.Payload) {
	for _, m := range p.GetMetrics() {
		name := m.GetName()
		if name == "" || name == sparkplug.MetricBdSeq || isControl(name) {
			continue
		}
		if m.Alias != nil {
			ns.names[m.GetAlias()] = name
		}
		ns.types[name] = sparkplug.DataType(m.GetDatatype())
		ns.device[name] = device
	}
}

func isControl(name string) bool { return strings.HasPrefix(name, "Node Control/") }

// samples turns a message's metrics into samples, by name or alias.
func (h *Host) samples(ns *nodeState, p *spb.Payload, d *Delivery) []plc.Sample {
	var out []plc.Sample
	for _, m := range p.GetMetrics() {
		name := m.GetName()
		if name == "" {
			name = ns.names[m.GetAlias()]
		}
		typ, ok := ns.types[name]
		if !ok {
			continue // bdSeq, Node Control, or not announced
		}
		v, err := sparkplug.Value(m, typ)
		if err != nil {
			h.log.Warn("sparkplug host: metric dropped", zap.Error(err))
			continue
		}
		q := plc.Good
		if pv := sparkplug.Property(m, sparkplug.PropQuality); pv != nil {
			q = sparkplug.QualityOf(int32(pv.GetIntValue()))
		}
		if !v.IsValid() && q.IsGood() {
			q = plc.Bad(plc.ReasonNotRead, "sparkplug: null")
		}
		ts := time.UnixMilli(int64(m.GetTimestamp()))
		if m.Timestamp == nil {
			ts = time.UnixMilli(int64(p.GetTimestamp()))
		}
		if m.GetIsHistorical() {
			d.Historical++
		}
		out = append(out, plc.Sample{Tag: name, Value: v, Quality: q, Time: ts.UTC()})
	}
	return out
}

// stale returns a death's samples: every metric of the device (or, for a
// node, of the node and all its devices) Bad at the time of death.
func (h *Host) stale(ns *nodeState, device string, p *spb.Payload) []plc.Sample {
	ts := time.UnixMilli(int64(p.GetTimestamp())).UTC()
	if p.Timestamp == nil {
		ts = h.clk.Now().UTC()
	}
	names := make([]string, 0, len(ns.device))
	for name, dev := range ns.device {
		if device == "" || dev == device {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]plc.Sample, 0, len(names))
	for _, n := range names {
		out = append(out, plc.Sample{Tag: n, Quality: plc.Bad(plc.ReasonCommFailure, "sparkplug: "+deathOf(device)), Time: ts})
	}
	return out
}

func deathOf(device string) string {
	if device == "" {
		return "node dead"
	}
	return "device dead"
}

// rebirthLocked publishes an NCMD asking the node for new births.
func (h *Host) rebirthLocked(group, node, reason string) {
	h.rebirths.WithLabelValues(reason).Inc()
	if h.client == nil {
		return
	}
	m := &spb.Payload_Metric{Name: sparkplug.Name(sparkplug.MetricRebirth)}
	sparkplug.SetValue(m, sparkplug.TypeBoolean, plc.BoolValue(true))
	data, err := sparkplug.Encode(&spb.Payload{Timestamp: sparkplug.Millis(h.clk.Now()), Metrics: []*spb.Payload_Metric{m}})
	if err != nil {
		return
	}
	h.client.Publish(sparkplug.NodeTopic(group, sparkplug.NCMD, node).String(), 0, false, data)
}

// Write asks a node to write a metric: a DCMD to the device that owns it
// (an NCMD for a node metric), with the name and type of its birth. The
// node checks and executes the write and answers with the value after it
// in a DDATA, which reaches the Handler.
func (h *Host) Write(ctx context.Context, group, node, metric string, v plc.Value) error {
	h.mu.Lock()
	client := h.client
	ns := h.nodes[nodeKey{group, node}]
	if client == nil {
		h.mu.Unlock()
		return ErrNotConnected
	}
	if ns == nil || !ns.born {
		h.mu.Unlock()
		return fmt.Errorf("%w: %s/%s", ErrUnknownNode, group, node)
	}
	typ, ok := ns.types[metric]
	device := ns.device[metric]
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q on %s/%s", ErrUnknownMetric, metric, group, node)
	}
	m := &spb.Payload_Metric{Name: sparkplug.Name(metric), Timestamp: sparkplug.Millis(h.clk.Now())}
	sparkplug.SetValue(m, typ, v)
	data, err := sparkplug.Encode(&spb.Payload{Timestamp: sparkplug.Millis(h.clk.Now()), Metrics: []*spb.Payload_Metric{m}})
	if err != nil {
		return err
	}
	topic := sparkplug.NodeTopic(group, sparkplug.NCMD, node)
	if device != "" {
		topic = sparkplug.DeviceTopic(group, sparkplug.DCMD, node, device)
	}
	return mqttconn.Wait(ctx, client.Publish(topic.String(), 0, false, data), 20*time.Second)
}

// Nodes returns what the host knows of every node, ordered by group and
// node.
func (h *Host) Nodes() []NodeStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]NodeStatus, 0, len(h.nodes))
	for k, ns := range h.nodes {
		devs := map[string]bool{}
		for d, alive := range ns.devices {
			devs[d] = alive
		}
		out = append(out, NodeStatus{Group: k.group, Node: k.node, Tenant: h.cfg.Groups[k.group], Online: ns.born, BdSeq: ns.bdSeq, Devices: devs, LastSeen: ns.last})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Node < out[j].Node
	})
	return out
}
