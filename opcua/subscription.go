package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kiln-iot/kiln/config"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/plc"
)

// SubscriptionConfig shapes a subscription. Zero fields take the
// documented defaults.
type SubscriptionConfig struct {
	// PublishingInterval is how often the server sends changes (default
	// 500ms).
	PublishingInterval time.Duration `yaml:"publishing_interval"`
	// SamplingInterval is how often the server samples each item (default:
	// the publishing interval).
	SamplingInterval time.Duration `yaml:"sampling_interval"`
	// QueueSize is how many changes per item the server keeps between
	// publishes (default 1: the latest).
	QueueSize uint32 `yaml:"queue_size"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML key.
func (c SubscriptionConfig) Validate() error {
	var p config.Problems
	if c.PublishingInterval < 0 {
		p.Add("publishing_interval", "%v is negative", c.PublishingInterval)
	}
	if c.SamplingInterval < 0 {
		p.Add("sampling_interval", "%v is negative", c.SamplingInterval)
	}
	return p.Err()
}

func (c SubscriptionConfig) withDefaults() SubscriptionConfig {
	if c.PublishingInterval == 0 {
		c.PublishingInterval = 500 * time.Millisecond
	}
	if c.SamplingInterval == 0 {
		c.SamplingInterval = c.PublishingInterval
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1
	}
	return c
}

// Item is one tag to monitor.
type Item struct {
	// Tag names the samples (Tag.Name), locates the node (Tag.Address, see
	// Address) and gives the raw type values are converted to (Tag.Type).
	Tag plc.Tag
	// Deadband is the server-side data change filter: DeadbandAbsolute in
	// raw units, DeadbandPercent of the node's EURange. DeadbandNone
	// reports every change.
	Deadband plc.Deadband
}

type subItem struct {
	item     Item
	addr     Address
	addrErr  bool       // the address does not parse: never monitored
	node     *ua.NodeID // resolved on the current session
	on       bool       // monitored on the current server subscription
	lastQ    plc.Quality
	reported bool
}

// Subscription delivers the changes of its items to a plc.Sink, across
// reconnects: when the connection is lost every item is reported Bad with
// ReasonCommFailure; when it is back the subscription and its monitored
// items are created anew on the new session; an item the server refuses
// is reported Bad with the server's status code and retried every
// keep-alive interval.
type Subscription struct {
	c      *Client
	cfg    SubscriptionConfig
	sink   plc.Sink
	notify chan *gopcua.PublishNotificationData
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// mu guards the fields below and is held while writing to the sink, so
	// that samples of a lost session never follow the Bad ones.
	mu      sync.Mutex
	items   []subItem
	cn      *conn
	us      *gopcua.Subscription
	created bool
	closed  bool
}

// Subscribe starts delivering the changes of items to sink. It returns
// once the client's first connection attempt has ended (or ctx is done):
// while the client is not connected the items are reported Bad with
// ReasonCommFailure, and they are monitored as soon as it is. Items whose
// address does not parse are reported Bad with ReasonConfigError once.
// Close the subscription (or the client) to stop it.
func (c *Client) Subscribe(ctx context.Context, cfg SubscriptionConfig, items []Item, sink plc.Sink) (*Subscription, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("opcua: subscribe: nil sink")
	}
	s := &Subscription{
		c:      c,
		cfg:    cfg.withDefaults(),
		sink:   sink,
		notify: make(chan *gopcua.PublishNotificationData, 64),
		items:  make([]subItem, len(items)),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var bad []plc.Sample
	now := time.Now()
	for i, it := range items {
		s.items[i].item = it
		a, err := ParseAddress(it.Tag.Address)
		if err == nil && DataTypeID(it.Tag.Type.Kind) == 0 {
			err = fmt.Errorf("type %v has no OPC UA counterpart", it.Tag.Type)
		}
		if err != nil {
			s.items[i].addrErr = true
			s.items[i].lastQ, s.items[i].reported = configBad, true
			bad = append(bad, plc.Sample{Tag: it.Tag.Name, Quality: configBad, Time: now})
			continue
		}
		s.items[i].addr = a
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.cancel()
		return nil, ErrClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	cn, _ := c.ready(ctx)

	s.wg.Add(1)
	go s.run()
	s.mu.Lock()
	if len(bad) > 0 {
		s.write(bad)
	}
	s.mu.Unlock()
	if cn != nil {
		if err := s.sync(ctx, cn); err != nil {
			c.log.Warn("opcua: subscription not created yet", zap.Error(err))
		}
	} else {
		s.unconnected()
	}
	return s, nil
}

// Close deletes the subscription on the server (best effort) and stops
// delivering. It is idempotent and waits for the delivering goroutine.
func (s *Subscription) Close() error {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
	s.stop()
	return nil
}

func (s *Subscription) stop() {
	s.once.Do(func() {
		// Cancel first: a sink blocked in WriteSamples (holding s.mu)
		// returns on ctx.
		s.cancel()
		s.mu.Lock()
		s.closed = true
		us := s.us
		s.us, s.cn = nil, nil
		s.mu.Unlock()
		s.wg.Wait()
		if us != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = us.Cancel(ctx)
			cancel()
		}
	})
}

// write hands samples to the sink; s.mu is held.
func (s *Subscription) write(samples []plc.Sample) {
	if err := s.sink.WriteSamples(s.ctx, samples); err != nil && s.ctx.Err() == nil {
		s.c.log.Warn("opcua: sink refused samples", zap.Int("samples", len(samples)), zap.Error(err))
	}
}

// report sets item i's quality to q and adds a Bad sample to out when the
// quality changed.
func (s *Subscription) report(out []plc.Sample, i int, q plc.Quality, now time.Time) []plc.Sample {
	it := &s.items[i]
	if it.reported && it.lastQ == q {
		return out
	}
	it.lastQ, it.reported = q, true
	return append(out, plc.Sample{Tag: it.item.Tag.Name, Quality: q, Time: now})
}

// reportAll reports every item with a good address as q (see report);
// with forget it also drops the items' node and monitored state, for a
// server subscription that is gone.
func (s *Subscription) reportAll(out []plc.Sample, q plc.Quality, forget bool, now time.Time) []plc.Sample {
	for i := range s.items {
		if s.items[i].addrErr {
			continue
		}
		if forget {
			s.items[i].on, s.items[i].node = false, nil
		}
		out = s.report(out, i, q, now)
	}
	return out
}

// lost reports every item Bad/comm failure and forgets the server
// subscription of a lost session.
func (s *Subscription) lost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.cn, s.us = nil, nil
	if out := s.reportAll(nil, commFailure, true, time.Now()); len(out) > 0 {
		s.write(out)
	}
}

// unconnected reports the items of a subscription made while the client
// is not connected, unless a connection came up meanwhile.
func (s *Subscription) unconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cn != nil {
		return
	}
	if out := s.reportAll(nil, commFailure, false, time.Now()); len(out) > 0 {
		s.write(out)
	}
}

// retry creates what is missing on cn: the server subscription after a
// failure, and items that failed before.
func (s *Subscription) retry(ctx context.Context, cn *conn) {
	if err := s.sync(ctx, cn); err != nil && ctx.Err() == nil {
		s.c.log.Debug("opcua: subscription retry failed", zap.Error(err))
	}
}

// sync makes sure the subscription exists on cn and every item is
// monitored, reporting the ones that cannot be.
func (s *Subscription) sync(ctx context.Context, cn *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	now := time.Now()
	var out []plc.Sample
	defer func() {
		if len(out) > 0 {
			s.write(out)
		}
	}()
	if s.cn != cn {
		ka := uint32(max(1, int64(5*time.Second/s.cfg.PublishingInterval)))
		us, err := cn.uc.Subscribe(ctx, &gopcua.SubscriptionParameters{
			Interval:          s.cfg.PublishingInterval,
			MaxKeepAliveCount: ka,
			LifetimeCount:     3 * ka,
		}, s.notify)
		if err != nil {
			out = s.reportAll(out, callQuality(err), false, now)
			return s.c.callError("create subscription", cn, err)
		}
		if s.created {
			s.c.metrics.recreations.Inc()
			s.c.log.Info("opcua: subscription recreated", zap.Uint32("id", us.SubscriptionID), zap.Int("items", len(s.items)))
		}
		s.created = true
		s.cn, s.us = cn, us
		for i := range s.items {
			s.items[i].on, s.items[i].node = false, nil
		}
	}
	// Resolve what needs resolving.
	var pend []int
	var addrs []Address
	for i := range s.items {
		it := &s.items[i]
		if !it.addrErr && !it.on && it.node == nil {
			pend = append(pend, i)
			addrs = append(addrs, it.addr)
		}
	}
	if len(pend) > 0 {
		ids, codes, err := s.c.resolve(ctx, addrs)
		if err != nil {
			for _, i := range pend {
				out = s.report(out, i, callQuality(err), now)
			}
			return err
		}
		for k, i := range pend {
			if codes[k] != ua.StatusOK {
				out = s.report(out, i, Quality(codes[k]), now)
				continue
			}
			s.items[i].node = ids[k]
		}
	}
	var todo []int
	for i := range s.items {
		if it := &s.items[i]; !it.addrErr && !it.on && it.node != nil {
			todo = append(todo, i)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), max(1, cn.lim.monitor))
		chunk := todo[:n]
		todo = todo[n:]
		reqs := make([]*ua.MonitoredItemCreateRequest, len(chunk))
		for k, i := range chunk {
			reqs[k] = s.request(i)
		}
		resp, err := s.us.Monitor(ctx, ua.TimestampsToReturnBoth, reqs...)
		if err != nil {
			for _, i := range chunk {
				out = s.report(out, i, callQuality(err), now)
			}
			for _, i := range todo {
				out = s.report(out, i, callQuality(err), now)
			}
			return s.c.callError("create monitored items", cn, err)
		}
		if len(resp.Results) != len(chunk) {
			return fmt.Errorf("opcua: create monitored items: %d results for %d items", len(resp.Results), len(chunk))
		}
		for k, i := range chunk {
			r := resp.Results[k]
			if r.StatusCode != ua.StatusOK {
				s.c.metrics.itemFailures.Inc()
				s.c.log.Warn("opcua: monitored item refused", zap.String("tag", s.items[i].item.Tag.Name), zap.String("status", StatusName(r.StatusCode)))
				out = s.report(out, i, Quality(r.StatusCode), now)
				// Resolve again next time: the node may come back elsewhere.
				s.items[i].node = nil
				continue
			}
			s.items[i].on = true
		}
	}
	return nil
}

// callQuality is the quality of items a failed service call left
// unmonitored: the call's status code, or a comm failure.
func callQuality(err error) plc.Quality {
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		return Quality(sc)
	}
	return commFailure
}

func (s *Subscription) request(i int) *ua.MonitoredItemCreateRequest {
	it := s.items[i].item
	var filter *ua.ExtensionObject
	if it.Deadband.Mode != plc.DeadbandNone {
		dt := ua.DeadbandTypeAbsolute
		if it.Deadband.Mode == plc.DeadbandPercent {
			dt = ua.DeadbandTypePercent
		}
		filter = ua.NewExtensionObject(&ua.DataChangeFilter{
			Trigger:       ua.DataChangeTriggerStatusValue,
			DeadbandType:  uint32(dt),
			DeadbandValue: it.Deadband.Value,
		})
	}
	return &ua.MonitoredItemCreateRequest{
		ItemToMonitor:  &ua.ReadValueID{NodeID: s.items[i].node, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
		MonitoringMode: ua.MonitoringModeReporting,
		RequestedParameters: &ua.MonitoringParameters{
			ClientHandle:     uint32(i + 1),
			SamplingInterval: float64(s.cfg.SamplingInterval) / float64(time.Millisecond),
			Filter:           filter,
			QueueSize:        s.cfg.QueueSize,
			DiscardOldest:    true,
		},
	}
}

// run delivers notifications until the subscription is closed.
func (s *Subscription) run() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.notify:
			s.handle(d)
		}
	}
}

func (s *Subscription) handle(d *gopcua.PublishNotificationData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.us == nil || d.SubscriptionID != s.us.SubscriptionID {
		return // from a session that is gone
	}
	if d.Error != nil {
		s.c.log.Debug("opcua: publish error", zap.Error(d.Error))
		return
	}
	switch n := d.Value.(type) {
	case *ua.DataChangeNotification:
		out := make([]plc.Sample, 0, len(n.MonitoredItems))
		now := time.Now()
		for _, m := range n.MonitoredItems {
			if m == nil || m.Value == nil {
				continue
			}
			i := int(m.ClientHandle) - 1
			if i < 0 || i >= len(s.items) || !s.items[i].on {
				continue
			}
			smp := sample(s.items[i].item.Tag, m.Value, now)
			s.items[i].lastQ, s.items[i].reported = smp.Quality, true
			out = append(out, smp)
		}
		if len(out) > 0 {
			s.write(out)
		}
	case *ua.StatusChangeNotification:
		if IsBad(n.Status) {
			// The server ended the subscription: report and recreate it at
			// the next keep-alive.
			s.c.log.Warn("opcua: subscription ended by server", zap.String("status", StatusName(n.Status)))
			s.cn, s.us = nil, nil
			if out := s.reportAll(nil, Quality(n.Status), true, time.Now()); len(out) > 0 {
				s.write(out)
			}
		}
	}
}

// sample converts a data value of a tag's node into a sample.
func sample(t plc.Tag, dv *ua.DataValue, now time.Time) plc.Sample {
	if dv == nil {
		return plc.Sample{Tag: t.Name, Quality: Quality(ua.StatusBadNoData), Time: now}
	}
	smp := plc.Sample{Tag: t.Name, Quality: Quality(dv.Status), Time: dv.SourceTimestamp}
	if smp.Time.IsZero() {
		smp.Time = dv.ServerTimestamp
	}
	if smp.Time.IsZero() {
		smp.Time = now
	}
	if smp.Quality.Status == plc.StatusBad {
		return smp
	}
	if dv.Value == nil {
		smp.Quality = Quality(ua.StatusBadNoData)
		return smp
	}
	v, err := ValueOf(dv.Value, t.Type)
	if err != nil {
		smp.Quality = plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonConfigError, Code: uint32(ua.StatusBadTypeMismatch), Detail: "value does not fit the tag's type"}
		return smp
	}
	smp.Value = v
	return smp
}
