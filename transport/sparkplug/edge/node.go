package edge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/reconnect"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/internal/mqttconn"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
	"github.com/kiln-iot/kiln/transport/wire"
)

var (
	// ErrOffline fails the messages handed to Publish while the node has
	// not published its births: not connected, or its primary host is
	// offline. They stay in the spool and are sent again.
	ErrOffline = errors.New("sparkplug/edge: node offline")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("sparkplug/edge: closed")
	// ErrServing is returned by a second Serve.
	ErrServing = errors.New("sparkplug/edge: already serving")
)

// Device is one kiln device as a Sparkplug device: its id (the device
// level of the topic) and its tags, which become its metrics.
type Device struct {
	ID   string
	Tags []plc.Tag
}

// WriteFunc writes a value that a host sent in an NCMD or DCMD to a tag,
// through the checked-write path (role, writable, type, limits,
// read-back, audit), and returns the value read back. A refused write
// returns an error and must not have reached the device.
type WriteFunc func(ctx context.Context, device, tag string, v plc.Value) (plc.Value, error)

// Option sets a code-only setting of New.
type Option func(*Node)

// WithLogger logs connections, births, deaths and commands.
func WithLogger(l *zap.Logger) Option { return func(n *Node) { n.log = l } }

// WithClock sets the clock of timestamps and retry delays.
func WithClock(c clock.Clock) Option { return func(n *Node) { n.clk = c } }

// WithWrites handles the metric writes of NCMD and DCMD messages; without
// it they are refused.
func WithWrites(f WriteFunc) Option { return func(n *Node) { n.writes = f } }

// WithBdSeq sets the first birth/death sequence number (default 0), for
// a node that keeps it across restarts.
func WithBdSeq(seq uint8) Option { return func(n *Node) { n.bdSeq = uint64(seq) } }

type metric struct {
	tag    plc.Tag
	device string
	alias  uint64
	typ    sparkplug.DataType
}

// Node is a Sparkplug B edge node: it connects to the brokers of its
// Config, announces its devices' metrics in births, publishes the sample
// batches handed to Publish as DDATA, turns a device whose tags all fail
// to read into DDEATH, and takes writes from the host. It implements
// transport.Publisher, so a forwarder drains the gateway's spool into it.
type Node struct {
	cfg     Config
	log     *zap.Logger
	clk     clock.Clock
	writes  WriteFunc
	metrics map[string]*metric // by tag name
	byAlias map[uint64]*metric
	devices []string
	devTags map[string][]*metric
	limiter *rate.Limiter

	serveMu sync.Mutex
	serving bool

	mu         sync.Mutex // guards the fields below and orders publishing
	client     mqtt.Client
	online     bool // births published on the current connection
	hostOnline bool
	hostTS     int64
	seq        uint64
	bdSeq      uint64
	birthTime  time.Time
	latest     map[string]plc.Sample
	devAlive   map[string]bool
	server     int
	closed     bool

	events chan event
	cmds   chan command
	wg     sync.WaitGroup // Publish calls in flight
}

// command is a metric write taken from an NCMD or DCMD, executed off
// paho's goroutine (a handler there must not wait on the connection).
type command struct {
	topic  sparkplug.Topic
	metric *spb.Payload_Metric
}

type event int

const (
	evLost event = iota
	evRebirth
	evNextServer
	evHostOnline
	evHostOffline
)

// New makes a node for devices. Tag names must be unique across devices.
func New(cfg Config, devices []Device, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg.withDefaults(), log: zap.NewNop(), clk: clock.Real,
		metrics: map[string]*metric{}, byAlias: map[uint64]*metric{}, devTags: map[string][]*metric{},
		latest: map[string]plc.Sample{}, devAlive: map[string]bool{},
		events: make(chan event, 16), cmds: make(chan command, 64),
	}
	for _, o := range opts {
		o(n)
	}
	n.clk = clock.Or(n.clk)
	n.limiter = rate.NewLimiter(rate.Limit(n.cfg.ReplayRate), int(max(n.cfg.ReplayRate, 1)))
	alias := uint64(0)
	for _, d := range devices {
		if err := sparkplug.CheckID("device", d.ID); err != nil {
			return nil, err
		}
		if _, dup := n.devTags[d.ID]; dup {
			return nil, fmt.Errorf("sparkplug/edge: device %q given twice", d.ID)
		}
		n.devices = append(n.devices, d.ID)
		n.devTags[d.ID] = nil
		for _, t := range d.Tags {
			if _, dup := n.metrics[t.Name]; dup {
				return nil, fmt.Errorf("sparkplug/edge: tag %q in two devices", t.Name)
			}
			alias++
			m := &metric{tag: t, device: d.ID, alias: alias, typ: sparkplug.TypeOf(t.EngType())}
			n.metrics[t.Name] = m
			n.byAlias[alias] = m
			n.devTags[d.ID] = append(n.devTags[d.ID], m)
		}
	}
	return n, nil
}

// BdSeq returns the birth/death sequence number of the current (or next)
// connection.
func (n *Node) BdSeq() uint8 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return uint8(n.bdSeq)
}

// Online reports whether the node's births are published on a live
// connection.
func (n *Node) Online() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.online
}

func (n *Node) topic(t sparkplug.MessageType) string {
	return sparkplug.NodeTopic(n.cfg.GroupID, t, n.cfg.NodeID).String()
}

func (n *Node) deviceTopic(t sparkplug.MessageType, dev string) string {
	return sparkplug.DeviceTopic(n.cfg.GroupID, t, n.cfg.NodeID, dev).String()
}

func (n *Node) signal(e event) {
	select {
	case n.events <- e:
	default: // a full queue already holds work that re-reads the state
	}
}

// Serve connects and keeps the node connected until ctx is done, then
// publishes NDEATH and disconnects.
func (n *Node) Serve(ctx context.Context) error {
	n.serveMu.Lock()
	if n.serving {
		n.serveMu.Unlock()
		return ErrServing
	}
	n.serving = true
	n.serveMu.Unlock()

	var workers sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(ctx)
	defer func() { stopWorkers(); workers.Wait() }()
	workers.Add(1)
	go func() {
		defer workers.Done()
		for {
			select {
			case <-wctx.Done():
				return
			case c := <-n.cmds:
				n.command(wctx, c.topic, c.metric)
			}
		}
	}()

	// kiln's one session loop: a failed connection or a session lost soon
	// after it began waits the next backoff delay.
	loop, err := reconnect.New(reconnect.Config{Retry: n.cfg.Retry}, n.dial,
		reconnect.WithClock(n.clk), reconnect.WithLogger(n.log, "sparkplug: "))
	if err != nil {
		return err
	}
	return loop.Serve(ctx)
}

// dial makes one MQTT connection: connect with NDEATH as the will and
// subscribe. Its Hold births (when the primary host allows) and handles
// events until the connection is lost or ctx ends.
func (n *Node) dial(ctx context.Context) (reconnect.Hold, error) {
	n.mu.Lock()
	server := n.cfg.Servers[n.server%len(n.cfg.Servers)]
	bdSeq := n.bdSeq
	n.mu.Unlock()
	will, err := sparkplug.Encode(&spb.Payload{Timestamp: sparkplug.Millis(n.clk.Now()), Metrics: []*spb.Payload_Metric{bdSeqMetric(bdSeq)}})
	if err != nil {
		return nil, err
	}
	tlsCfg, err := n.cfg.TLS.Config()
	if err != nil {
		return nil, err
	}
	opts := mqttconn.Options(mqttconn.Params{Server: server, ClientID: n.cfg.ClientID, Username: n.cfg.Username, Password: n.cfg.Password,
		TLS: tlsCfg, KeepAlive: n.cfg.KeepAlive, ConnectTimeout: n.cfg.ConnectTimeout, WillTopic: n.topic(sparkplug.NDEATH), Will: will,
		OnLost: func(err error) {
			n.log.Warn("sparkplug: connection lost", zap.String("server", server), zap.Error(err))
			n.signal(evLost)
		}})
	client := mqtt.NewClient(opts)
	// Every new MQTT CONNECT takes the next bdSeq (Sparkplug 3.0), whether
	// it succeeds or not, so a will left by an earlier attempt never
	// matches a later birth.
	n.mu.Lock()
	n.bdSeq = (n.bdSeq + 1) % 256
	n.mu.Unlock()
	tok := client.Connect()
	if err := mqttconn.Wait(ctx, tok, n.cfg.ConnectTimeout+5*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("sparkplug: connect %s: %w", server, err)
	}
	n.drain()
	n.mu.Lock()
	n.hostOnline = false
	n.mu.Unlock()
	subs := map[string]byte{n.topic(sparkplug.NCMD): 1, n.deviceTopic(sparkplug.DCMD, "+"): 1}
	if n.cfg.PrimaryHost != "" {
		subs[sparkplug.StateTopic(n.cfg.PrimaryHost).String()] = 1
	}
	if err := mqttconn.Wait(ctx, client.SubscribeMultiple(subs, n.onMessage), 20*time.Second); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("sparkplug: subscribe on %s: %w", server, err)
	}
	n.mu.Lock()
	n.client = client
	n.mu.Unlock()
	n.log.Info("sparkplug: connected", zap.String("server", server), zap.Uint64("bdSeq", bdSeq))
	return func(ctx context.Context) error { return n.hold(ctx, client, bdSeq) }, nil
}

// hold runs one connection's session until it is lost or ctx ends.
func (n *Node) hold(ctx context.Context, client mqtt.Client, bdSeq uint64) error {
	defer func() {
		n.mu.Lock()
		n.online, n.client = false, nil
		n.mu.Unlock()
	}()
	if n.cfg.PrimaryHost == "" {
		if err := n.birth(bdSeq); err != nil {
			client.Disconnect(0)
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			n.death(client, bdSeq)
			return nil
		case e := <-n.events:
			switch e {
			case evLost:
				client.Disconnect(0)
				return errors.New("connection lost")
			case evHostOffline:
				// Sparkplug 3.0: on its primary host's offline STATE the node
				// publishes NDEATH, disconnects and starts over.
				n.death(client, bdSeq)
				return errors.New("primary host offline")
			case evNextServer:
				n.death(client, bdSeq)
				n.mu.Lock()
				n.server++
				n.mu.Unlock()
				return errors.New("next server requested")
			case evHostOnline, evRebirth:
				if err := n.birth(bdSeq); err != nil {
					client.Disconnect(0)
					return err
				}
			}
		}
	}
}

func (n *Node) drain() {
	for {
		select {
		case <-n.events:
		default:
			return
		}
	}
}

func (n *Node) death(client mqtt.Client, bdSeq uint64) {
	n.mu.Lock()
	n.online = false
	n.mu.Unlock()
	if payload, err := sparkplug.Encode(&spb.Payload{Timestamp: sparkplug.Millis(n.clk.Now()), Metrics: []*spb.Payload_Metric{bdSeqMetric(bdSeq)}}); err == nil {
		client.Publish(n.topic(sparkplug.NDEATH), 1, false, payload).WaitTimeout(5 * time.Second)
	}
	client.Disconnect(250)
}

func bdSeqMetric(bdSeq uint64) *spb.Payload_Metric {
	m := &spb.Payload_Metric{Name: sparkplug.Name(sparkplug.MetricBdSeq)}
	sparkplug.SetValue(m, sparkplug.TypeInt64, plc.IntValue(plc.LInt, int64(bdSeq)))
	return m
}

// birth publishes NBIRTH (seq 0) and a DBIRTH for every device that is
// up, with every metric's current value, type and properties.
func (n *Node) birth(bdSeq uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		return ErrOffline
	}
	now := n.clk.Now()
	n.seq = 0
	nb := &spb.Payload{Timestamp: sparkplug.Millis(now), Seq: sparkplug.Uint64(0), Metrics: []*spb.Payload_Metric{bdSeqMetric(bdSeq)}}
	for _, name := range []string{sparkplug.MetricRebirth, sparkplug.MetricNextServer} {
		m := &spb.Payload_Metric{Name: sparkplug.Name(name), Timestamp: sparkplug.Millis(now)}
		sparkplug.SetValue(m, sparkplug.TypeBoolean, plc.BoolValue(false))
		nb.Metrics = append(nb.Metrics, m)
	}
	if _, err := n.publishLocked(n.topic(sparkplug.NBIRTH), nb); err != nil {
		return err
	}
	n.birthTime = now
	n.online = true
	for _, dev := range n.devices {
		if !n.deviceDownLocked(dev) {
			if err := n.deviceBirthLocked(dev, now); err != nil {
				return err
			}
		} else {
			n.devAlive[dev] = false
		}
	}
	n.log.Info("sparkplug: births published", zap.Uint64("bdSeq", bdSeq), zap.Int("devices", len(n.devices)))
	return nil
}

func (n *Node) deviceBirthLocked(dev string, now time.Time) error {
	p := &spb.Payload{Timestamp: sparkplug.Millis(now)}
	for _, m := range n.devTags[dev] {
		pm := &spb.Payload_Metric{Name: sparkplug.Name(m.tag.Name), Alias: sparkplug.Uint64(m.alias)}
		s, ok := n.latest[m.tag.Name]
		if ok {
			pm.Timestamp = sparkplug.Millis(s.Time)
		} else {
			pm.Timestamp = sparkplug.Millis(now)
		}
		sparkplug.SetValue(pm, m.typ, s.Value)
		properties(pm, &m.tag, s.Quality)
		p.Metrics = append(p.Metrics, pm)
	}
	if _, err := n.publishLocked(n.deviceTopic(sparkplug.DBIRTH, dev), p); err != nil {
		return err
	}
	n.devAlive[dev] = true
	return nil
}

func properties(pm *spb.Payload_Metric, t *plc.Tag, q plc.Quality) {
	if t.Unit != "" {
		sparkplug.SetProperty(pm, sparkplug.PropEngUnit, sparkplug.StringProp(t.Unit))
	}
	if t.Limits.Min != nil {
		sparkplug.SetProperty(pm, sparkplug.PropEngLow, sparkplug.DoubleProp(*t.Limits.Min))
	}
	if t.Limits.Max != nil {
		sparkplug.SetProperty(pm, sparkplug.PropEngHigh, sparkplug.DoubleProp(*t.Limits.Max))
	}
	if t.Description != "" {
		sparkplug.SetProperty(pm, sparkplug.PropDescription, sparkplug.StringProp(t.Description))
	}
	sparkplug.SetProperty(pm, sparkplug.PropReadOnly, sparkplug.BoolProp(!t.Writable()))
	sparkplug.SetProperty(pm, sparkplug.PropQuality, sparkplug.Int32Prop(sparkplug.QualityCode(q)))
}

// deviceDownLocked reports whether every tag of dev last read bad for
// want of communication (no tag read yet counts as up: its birth carries
// nulls).
func (n *Node) deviceDownLocked(dev string) bool {
	tags := n.devTags[dev]
	if len(tags) == 0 {
		return false
	}
	for _, m := range tags {
		s, ok := n.latest[m.tag.Name]
		if !ok || s.Quality.IsGood() || s.Quality.Reason != plc.ReasonCommFailure {
			return false
		}
	}
	return true
}

// publishLocked publishes a payload with the next seq (QoS 0, not
// retained, as Sparkplug requires of births and data).
func (n *Node) publishLocked(topic string, p *spb.Payload) (mqtt.Token, error) {
	if p.Seq == nil {
		n.seq = (n.seq + 1) % 256
		p.Seq = sparkplug.Uint64(n.seq)
	}
	data, err := sparkplug.Encode(p)
	if err != nil {
		return nil, err
	}
	return n.client.Publish(topic, 0, false, data), nil
}

// message is one payload for one topic.
type message struct {
	topic string
	p     *spb.Payload
}

// name names a metric of a data message by its alias, or by its name
// when the node sends no aliases.
func (n *Node) name(pm *spb.Payload_Metric, m *metric) {
	if n.cfg.NoAliases {
		pm.Name = sparkplug.Name(m.tag.Name)
	} else {
		pm.Alias = sparkplug.Uint64(m.alias)
	}
}

// Observe takes live samples (from the poller, before the spool) so that
// births carry current values and a device whose tags all lose their
// connection becomes DDEATH at once, and DBIRTH again when one reads good.
func (n *Node) Observe(samples []plc.Sample) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.observeLocked(samples)
}

func (n *Node) observeLocked(samples []plc.Sample) {
	touched := map[string]bool{}
	for _, s := range samples {
		m := n.metrics[s.Tag]
		if m == nil {
			continue
		}
		if old, ok := n.latest[s.Tag]; ok && old.Time.After(s.Time) {
			continue
		}
		n.latest[s.Tag] = s
		touched[m.device] = true
	}
	if !n.online {
		return
	}
	now := n.clk.Now()
	for _, dev := range n.devices {
		if !touched[dev] {
			continue
		}
		down := n.deviceDownLocked(dev)
		switch {
		case down && n.devAlive[dev]:
			n.devAlive[dev] = false
			_, _ = n.publishLocked(n.deviceTopic(sparkplug.DDEATH, dev), &spb.Payload{Timestamp: sparkplug.Millis(now)})
			n.log.Warn("sparkplug: device dead", zap.String("device", dev))
		case !down && !n.devAlive[dev]:
			_ = n.deviceBirthLocked(dev, now)
			n.log.Info("sparkplug: device born again", zap.String("device", dev))
		}
	}
}

// Publish publishes sample batches (transport/wire messages) as DDATA:
// one message per device and batch, carrying the batch's identity
// (source/device, epoch, seq) as a sparkplug.BatchID in its uuid, metrics
// by alias, each with its
// sample time, bad quality as the Quality property, and samples older
// than the current births flagged is_historical and paced to
// Config.ReplayRate. A message is confirmed once the broker has read it
// (an MQTT round trip after it on the same connection), so a link lost
// meanwhile leaves it in the spool. Messages that are not sample batches
// (audit records) have no Sparkplug form: they are confirmed as they are.
func (n *Node) Publish(ctx context.Context, msgs []transport.Message, done func(int, error)) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return transport.ErrClosed
	}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()
	var b wire.Batch
	var outs []message
	historical := 0
	n.mu.Lock()
	if !n.online {
		n.mu.Unlock()
		for i := range msgs {
			done(i, ErrOffline)
		}
		return nil
	}
	birth := n.birthTime
	for _, msg := range msgs {
		if err := wire.FromMessage(msg, &b); err != nil {
			continue
		}
		// One DDATA per device of each batch, carrying the batch's id, so a
		// kiln host stores a replayed batch once.
		byDev := map[string]*spb.Payload{}
		var live []plc.Sample
		for _, s := range b.Samples {
			m := n.metrics[s.Tag]
			if m == nil {
				continue
			}
			p := byDev[m.device]
			if p == nil {
				p = &spb.Payload{}
				if b.Source != "" {
					p.Uuid = sparkplug.Name(sparkplug.BatchID{Source: b.Source + "/" + m.device, Epoch: b.Epoch, Seq: b.Seq}.String())
				}
				byDev[m.device] = p
			}
			pm := &spb.Payload_Metric{Timestamp: sparkplug.Millis(s.Time)}
			n.name(pm, m)
			if s.Time.Before(birth) {
				h := true
				pm.IsHistorical = &h
				historical++
			} else {
				live = append(live, s)
			}
			sparkplug.SetValue(pm, m.typ, s.Value)
			if !s.Quality.IsGood() {
				sparkplug.SetProperty(pm, sparkplug.PropQuality, sparkplug.Int32Prop(sparkplug.QualityCode(s.Quality)))
			}
			p.Metrics = append(p.Metrics, pm)
		}
		n.observeLocked(live)
		devs := make([]string, 0, len(byDev))
		for d := range byDev {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		for _, d := range devs {
			outs = append(outs, message{n.deviceTopic(sparkplug.DDATA, d), byDev[d]})
		}
	}
	n.mu.Unlock()

	if historical > 0 {
		if err := n.limiter.WaitN(ctx, min(historical, n.limiter.Burst())); err != nil {
			for i := range msgs {
				done(i, err)
			}
			return nil
		}
	}
	err := n.send(ctx, outs)
	for i := range msgs {
		done(i, err)
	}
	return nil
}

// send publishes msgs (QoS 0, the next seq each, stamped now) on the
// current connection and waits until the broker has read everything:
// QoS 0 tokens complete once written, then an UNSUBSCRIBE of a topic the
// node never subscribed is answered only after the broker processed the
// bytes before it.
func (n *Node) send(ctx context.Context, msgs []message) error {
	n.mu.Lock()
	if !n.online || n.client == nil {
		n.mu.Unlock()
		return ErrOffline
	}
	client := n.client
	toks := make([]mqtt.Token, 0, len(msgs))
	for _, m := range msgs {
		m.p.Timestamp = sparkplug.Millis(n.clk.Now())
		t, err := n.publishLocked(m.topic, m.p)
		if err != nil {
			n.mu.Unlock()
			return err
		}
		toks = append(toks, t)
	}
	n.mu.Unlock()
	for _, t := range toks {
		if err := mqttconn.Wait(ctx, t, 30*time.Second); err != nil {
			return fmt.Errorf("sparkplug: publish: %w", err)
		}
	}
	if err := mqttconn.Wait(ctx, client.Unsubscribe(n.topic(sparkplug.NCMD)+"/kiln-barrier"), 30*time.Second); err != nil {
		return fmt.Errorf("sparkplug: broker did not confirm: %w", err)
	}
	return nil
}

// onMessage handles NCMD, DCMD and the primary host's STATE. It runs on
// paho's goroutine; what must be serialized with births goes through the
// events channel.
func (n *Node) onMessage(_ mqtt.Client, msg mqtt.Message) {
	t, err := sparkplug.ParseTopic(msg.Topic())
	if err != nil {
		return
	}
	if t.Type == sparkplug.STATE {
		st, err := sparkplug.ParseState(msg.Payload())
		if err != nil {
			n.log.Warn("sparkplug: ignoring a bad STATE", zap.String("topic", msg.Topic()), zap.Error(err))
			return
		}
		n.mu.Lock()
		if st.Timestamp < n.hostTS {
			n.mu.Unlock()
			return // an older STATE than one already seen
		}
		n.hostTS = st.Timestamp
		was := n.hostOnline
		n.hostOnline = st.Online
		n.mu.Unlock()
		switch {
		case st.Online && !was:
			n.signal(evHostOnline)
		case !st.Online && was:
			n.signal(evHostOffline)
		}
		return
	}
	p, err := sparkplug.Decode(msg.Topic(), msg.Payload())
	if err != nil {
		n.log.Warn("sparkplug: ignoring a bad command", zap.Error(err))
		return
	}
	for _, m := range p.GetMetrics() {
		switch {
		case t.Type == sparkplug.NCMD && m.GetName() == sparkplug.MetricRebirth && m.GetBooleanValue():
			n.log.Info("sparkplug: rebirth requested")
			n.signal(evRebirth)
		case t.Type == sparkplug.NCMD && m.GetName() == sparkplug.MetricNextServer && m.GetBooleanValue():
			n.log.Info("sparkplug: next server requested")
			n.signal(evNextServer)
		default:
			select {
			case n.cmds <- command{t, m}:
			default:
				n.log.Warn("sparkplug: command queue full; write dropped", zap.String("topic", t.String()))
			}
		}
	}
}

// command executes one metric write of a DCMD (or NCMD) and answers it
// with the tag's value after the write: the value read back, or the
// value it kept when the write was refused.
func (n *Node) command(ctx context.Context, t sparkplug.Topic, pm *spb.Payload_Metric) {
	var m *metric
	n.mu.Lock()
	if pm.Name != nil {
		m = n.metrics[pm.GetName()]
	} else {
		m = n.byAlias[pm.GetAlias()]
	}
	n.mu.Unlock()
	if m == nil || (t.Device != "" && m.device != t.Device) {
		n.log.Warn("sparkplug: command for an unknown metric refused", zap.String("topic", t.String()), zap.String("name", pm.GetName()), zap.Uint64("alias", pm.GetAlias()))
		return
	}
	v, err := sparkplug.Value(pm, m.typ)
	if err == nil && n.writes == nil {
		err = errors.New("writes are not enabled on this node")
	}
	var got plc.Value
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, err = n.writes(wctx, m.device, m.tag.Name, v)
		cancel()
	}
	now := n.clk.Now()
	n.mu.Lock()
	if err != nil {
		n.log.Warn("sparkplug: write refused", zap.String("tag", m.tag.Name), zap.Error(err))
		got = n.latest[m.tag.Name].Value
	} else {
		n.latest[m.tag.Name] = plc.Sample{Tag: m.tag.Name, Value: got, Quality: plc.Good, Time: now}
	}
	n.mu.Unlock()
	answer := &spb.Payload_Metric{Timestamp: sparkplug.Millis(now)}
	n.name(answer, m)
	sparkplug.SetValue(answer, m.typ, got)
	_ = n.send(ctx, []message{{n.deviceTopic(sparkplug.DDATA, m.device), &spb.Payload{Metrics: []*spb.Payload_Metric{answer}}}})
}

// Close stops accepting batches and waits for those in flight. It is
// idempotent; Serve ends with its context.
func (n *Node) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}
