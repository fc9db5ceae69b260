package s7

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
	"github.com/kiln-iot/kiln/reconnect"
)

func init() {
	plc.Register(plc.Registration{Name: "s7", CheckAddress: CheckAddress, CheckDevice: checkDevice, Open: Open})
}

func checkDevice(dev plc.Device) error {
	_, err := ConfigFromDevice(dev)
	return err
}

// Open opens a driver for dev, whose endpoint and options are read by
// ConfigFromDevice; it is the driver's plc.Registration.Open.
func Open(dev plc.Device, o plc.OpenOptions) (plc.Driver, error) {
	cfg, err := ConfigFromDevice(dev)
	if err != nil {
		return nil, err
	}
	return New(cfg, WithName(dev.Name), WithLogger(o.Logger), WithRegisterer(o.Registerer))
}

// minPDU and maxPDU bound the PDU sizes the driver works with. S7 CPUs
// grant at most 960 bytes, and the driver sends every request in one
// COTP TPDU of the 1024 bytes it offers.
const (
	minPDU = 64
	maxPDU = 960
)

// Option sets a code-only setting of New.
type Option func(*options)

type options struct {
	name   string
	log    *zap.Logger
	reg    prometheus.Registerer
	clock  clock.Clock
	events func(reconnect.Event)
}

// WithName names the device in logs and metric labels (default: the
// endpoint).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the driver's Prometheus collectors with r; Close
// unregisters them.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithClock sets the clock that times reconnection delays (default: the
// system clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEvents calls h with the session events of every connection to the
// PLC (connected, lost with its cause, retrying in), in order per
// connection; h must not block.
func WithEvents(h func(reconnect.Event)) Option { return func(o *options) { o.events = h } }

// Driver reads and writes one S7 PLC. It implements plc.Driver and is safe
// for concurrent use: requests on one connection are serialized, and
// Config.Connections connections serve requests in parallel.
type Driver struct {
	cfg      Config
	endpoint string
	name     string
	log      *zap.Logger
	clk      clock.Clock
	reg      prometheus.Registerer
	events   func(reconnect.Event)
	m        *metrics
	cb       *gobreaker.CircuitBreaker[[]byte]
	slots    []*slot

	life      context.Context // ended by Close: stops reconnecting and interrupts requests
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	next      atomic.Uint32         // round-robin slot choice
	connErr   atomic.Pointer[error] // the last connect failure, nil once connected
}

// New returns a driver for the PLC at cfg.Endpoint (host or host:port,
// port 102 by default). It connects in the background and returns at
// once; the first read waits for the first connection attempt.
func New(cfg Config, opts ...Option) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr, err := hostPort(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	o := options{name: addr}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	d := &Driver{
		cfg:      cfg.withDefaults(),
		endpoint: addr,
		name:     o.name,
		log:      o.log.With(zap.String("device", o.name), zap.String("endpoint", addr)),
		clk:      clock.Or(o.clock),
		reg:      o.reg,
		events:   o.events,
		m:        newMetrics(o.name),
	}
	if d.reg != nil {
		if err := d.m.register(d.reg); err != nil {
			return nil, err
		}
	}
	settings := d.cfg.Breaker.Settings(o.name)
	settings.IsSuccessful = func(err error) bool {
		// A request its caller cancelled says nothing about the PLC.
		return err == nil || errors.Is(err, context.Canceled)
	}
	settings.OnStateChange = func(_ string, from, to gobreaker.State) {
		d.m.setBreaker(to)
		d.log.Info("s7 circuit breaker", zap.Stringer("from", from), zap.Stringer("to", to))
	}
	d.cb = gobreaker.NewCircuitBreaker[[]byte](settings)
	ctx, cancel := context.WithCancel(context.Background())
	d.life, d.cancel = ctx, cancel
	loops := make([]*reconnect.Loop, d.cfg.Connections)
	for i := range loops {
		s := &slot{d: d, id: i, kick: make(chan struct{}, 1), first: make(chan struct{})}
		if loops[i], err = s.newLoop(); err != nil {
			cancel()
			if d.reg != nil {
				d.m.unregister(d.reg)
			}
			return nil, fmt.Errorf("s7: reconnect: %w", err)
		}
		d.slots = append(d.slots, s)
	}
	for _, l := range loops {
		d.wg.Go(func() { _ = l.Serve(ctx) })
	}
	return d, nil
}

// Close disconnects and stops reconnecting. It interrupts requests under
// way, is idempotent and waits for the driver's goroutines.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.cancel()
		d.wg.Wait()
		for _, s := range d.slots {
			s.mu.Lock()
			if s.c != nil {
				_ = s.c.Close()
				s.c = nil
				s.pdu.Store(0)
			}
			s.mu.Unlock()
		}
		if d.reg != nil {
			d.m.unregister(d.reg)
		}
	})
	return nil
}

// BreakerState returns the circuit breaker's state.
func (d *Driver) BreakerState() gobreaker.State { return d.cb.State() }

// ConnectionError implements plc.ConnectionReporter: the cause of the
// last failed connection attempt (matching ErrRefused when the PLC
// refused rack, slot or TSAPs), nil once a connection is up.
func (d *Driver) ConnectionError() error {
	if p := d.connErr.Load(); p != nil {
		return *p
	}
	return nil
}

// PDUSize returns the PDU size negotiated with the PLC (at most
// Config.PDUSize) on a live connection, 0 when none is up. Requests and
// their answers are planned to fit it.
func (d *Driver) PDUSize() int {
	for _, s := range d.slots {
		if p := int(s.pdu.Load()); p > 0 {
			return p
		}
	}
	return 0
}

// slot is one connection to the PLC and the goroutine that keeps it up.
type slot struct {
	d  *Driver
	id int

	mu       sync.Mutex // guards c, ref and byCaller
	c        *isoConn
	ref      uint16
	byCaller bool         // the last drop came from a caller cancelling its request
	pdu      atomic.Int32 // usable PDU size while connected, else 0

	kick      chan struct{} // the connection was lost: reconnect
	first     chan struct{} // closed when the first attempt has ended
	firstOnce sync.Once
}

// newLoop returns the slot's session loop: connect, wait for the
// connection's loss, reconnect. A session a caller ended by cancelling
// its request is rebuilt at once (reconnect.ErrByCaller).
func (s *slot) newLoop() (*reconnect.Loop, error) {
	connected := false
	dial := func(ctx context.Context) (reconnect.Hold, error) {
		err := s.dial(ctx)
		s.firstOnce.Do(func() { close(s.first) })
		if err != nil {
			return nil, err
		}
		if connected {
			s.d.m.reconnects.Inc()
		}
		connected = true
		s.d.log.Info("s7 connected", zap.Int("conn", s.id), zap.Int("pdu", int(s.pdu.Load())))
		return s.watch, nil
	}
	return reconnect.New(reconnect.Config{Retry: s.d.cfg.Retry}, dial,
		reconnect.WithClock(s.d.clk), reconnect.WithLogger(s.d.log.With(zap.Int("conn", s.id)), "s7 "), reconnect.WithEvents(s.d.events))
}

// idleProbe is how often an idle connection is checked for a close by
// the PLC.
const idleProbe = time.Second

// watch waits while the connection is up, and every idleProbe checks it
// when no request holds it, so that a connection the PLC (or a gateway)
// closed is rebuilt before the next read needs it. It returns when the
// connection is lost, with why (reconnect.ErrByCaller when a caller
// cancelling its request dropped it), or when ctx ends.
func (s *slot) watch(ctx context.Context) error {
	t := s.d.clk.NewTicker(idleProbe)
	defer t.Stop()
	cause := errDropped
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.kick:
			s.mu.Lock()
			byCaller := s.byCaller
			s.byCaller = false
			s.mu.Unlock()
			if byCaller {
				return reconnect.ErrByCaller
			}
			return cause
		case <-t.C():
		}
		if s.mu.TryLock() {
			if c := s.c; c != nil && c.closedByPeer() {
				s.d.log.Info("s7 connection closed by the PLC, reconnecting", zap.Int("conn", s.id))
				s.dropLocked(c, false)
				cause = errClosedByPLC
			}
			s.mu.Unlock()
		}
	}
}

// Why a session ended: the PLC closed the idle connection, or a request
// on it failed or got an answer the driver could not use.
var (
	errClosedByPLC = errors.New("s7: connection closed by the PLC")
	errDropped     = errors.New("s7: connection dropped after a failed request")
)

// dial makes one connection attempt through the breaker, within
// ConnectTimeout.
func (s *slot) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.d.cfg.ConnectTimeout)
	defer cancel()
	var c *isoConn
	_, err := s.d.cb.Execute(func() ([]byte, error) {
		var err error
		c, err = dialISO(ctx, s.d.endpoint, uint16(s.d.cfg.LocalTSAP), s.d.cfg.remoteTSAP(), s.d.cfg.PDUSize)
		return nil, err
	})
	if err != nil {
		err = fmt.Errorf("s7: connect %s: %w", s.d.endpoint, err)
		if !errors.Is(err, gobreaker.ErrOpenState) { // keep the cause, not the breaker's refusal
			s.d.connErr.Store(&err)
		}
		return err
	}
	s.d.connErr.Store(nil)
	s.mu.Lock()
	s.c = c
	s.pdu.Store(int32(c.pdu))
	s.mu.Unlock()
	return nil
}

// exchange sends one telegram (TPKT frame, PDU reference set here) and
// returns the answer's S7 PDU and the connection that carried it (for
// drop). Up to the jobs the PLC granted are in flight on a connection at
// once. A request that times out or is cancelled fails alone; a failed
// connection is dropped, and the slot's goroutine rebuilds it.
func (s *slot) exchange(ctx context.Context, op string, frame []byte) ([]byte, *isoConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	h := s.c
	if h == nil {
		s.mu.Unlock()
		return nil, nil, plc.ErrNotConnected
	}
	s.ref++
	if s.ref == 0 {
		s.ref = 1
	}
	ref := s.ref
	s.mu.Unlock()
	binary.BigEndian.PutUint16(frame[wire.IsoHeaderLen+4:], ref)
	// Close interrupts the request as well as the caller's ctx does.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.d.life, cancel)
	defer stop()
	start := time.Now()
	resp, err := s.d.cb.Execute(func() ([]byte, error) {
		return h.request(ctx, ref, frame, s.d.cfg.Timeout)
	})
	s.d.m.rtt.WithLabelValues(op).Observe(time.Since(start).Seconds())
	s.d.m.bytes.WithLabelValues("sent").Add(float64(len(frame)))
	if err != nil {
		s.d.m.requests.WithLabelValues(op, "error").Inc()
		byCaller := errors.Is(err, context.Canceled)
		switch {
		case breaker.Refused(err):
		case errors.Is(err, ErrConnLost) || h.jobs == 1:
			// With one job granted, an unanswered request leaves the
			// connection out of step: the answer may still come.
			lvl := zap.WarnLevel
			if byCaller {
				lvl = zap.DebugLevel // the caller's doing, not the PLC's
			}
			s.d.log.Log(lvl, "s7 request failed, reconnecting", zap.Int("conn", s.id), zap.Error(err))
			s.mu.Lock()
			s.dropLocked(h, byCaller)
			s.mu.Unlock()
		case !byCaller:
			s.d.log.Warn("s7 request failed; the connection goes on with the other jobs", zap.Int("conn", s.id), zap.Error(err))
		}
		return nil, nil, fmt.Errorf("%w: %w", plc.ErrNotConnected, err)
	}
	s.d.m.bytes.WithLabelValues("received").Add(float64(len(resp) + wire.IsoHeaderLen))
	s.d.m.requests.WithLabelValues(op, "ok").Inc()
	return resp, h, nil
}

// drop closes the connection h after an answer the driver could not use,
// so that the next request does not read whatever follows it.
func (s *slot) drop(h *isoConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked(h, false)
}

// dropLocked is drop with s.mu held; byCaller says a caller's cancelled
// request is the cause, not the PLC. It does nothing if h is no longer
// the slot's connection.
func (s *slot) dropLocked(h *isoConn, byCaller bool) {
	if s.c != h || h == nil {
		return
	}
	_ = h.Close()
	s.c = nil
	s.byCaller = byCaller
	s.pdu.Store(0)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// live returns the connected slots, waiting (within ctx) for the first
// connection attempt of slots that have not made one yet, so that a read
// right after New does not fail for want of time.
func (d *Driver) live(ctx context.Context) ([]*slot, error) {
	for _, s := range d.slots {
		select {
		case <-s.first:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var out []*slot
	n := len(d.slots)
	start := int(d.next.Add(1))
	for i := range n {
		s := d.slots[(start+i)%n]
		if s.pdu.Load() > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// Write writes raw values, one error per item in order: an *AddressError
// or *plc.ConversionError for items refused before sending, an *ItemError
// for items the PLC refused, plc.ErrNotConnected (wrapped) when the PLC
// could not be reached. A BOOL is written with bit transport, so the other
// bits of its byte are never rewritten.
func (d *Driver) Write(ctx context.Context, items []plc.WriteItem) []error {
	errs := make([]error, len(items))
	if d.closed.Load() {
		for i := range errs {
			errs[i] = plc.ErrClosed
		}
		return errs
	}
	type wi struct {
		idx  int
		item wire.Item
		data []byte
	}
	var ws []wi
	for i, it := range items {
		a, err := ParseAddress(it.Tag.Address, it.Tag.Type)
		if err != nil {
			errs[i] = err
			continue
		}
		b, err := a.Encode(it.Value)
		if err != nil {
			errs[i] = fmt.Errorf("s7: %s: %w", it.Tag.Address, err)
			continue
		}
		item := wire.Item{TS: wire.TSByte, Count: uint16(len(b)), DB: uint16(a.DB), Area: byte(a.Area), Start: a.Offset}
		if a.Type.Kind == plc.Bool {
			item.TS, item.Bit = wire.TSBit, a.Bit
		}
		ws = append(ws, wi{i, item, b})
	}
	if len(ws) == 0 {
		return errs
	}
	fail := func(err error) []error {
		for _, w := range ws {
			if errs[w.idx] == nil {
				errs[w.idx] = err
			}
		}
		return errs
	}
	slots, err := d.live(ctx)
	if err != nil {
		return fail(err)
	}
	if len(slots) == 0 {
		return fail(plc.ErrNotConnected)
	}
	s := slots[0]
	pdu := int(s.pdu.Load())
	if pdu == 0 {
		return fail(plc.ErrNotConnected)
	}
	// Cut values too long for one request (long strings at small PDUs).
	maxData := (pdu - wire.WriteRequestSize(0) - wire.ItemSpecLen - wire.DataItemHeaderLen) &^ 1
	var cut []wi
	for _, w := range ws {
		for off := 0; off < len(w.data); off += maxData {
			n := min(maxData, len(w.data)-off)
			c := w
			c.item.Start += off
			c.item.Count = uint16(n)
			c.data = w.data[off : off+n]
			cut = append(cut, c)
		}
	}
	maxN := min(d.cfg.MaxItems, pdu-wire.WriteResponseSize(0), 255)
	for len(cut) > 0 {
		n, lens := 0, []int{}
		for n < len(cut) && n < maxN && wire.WriteRequestSize(append(lens, len(cut[n].data))...) <= pdu {
			lens = append(lens, len(cut[n].data))
			n++
		}
		batch := cut[:n]
		cut = cut[n:]
		wItems := make([]wire.Item, n)
		data := make([][]byte, n)
		for i, w := range batch {
			wItems[i], data[i] = w.item, w.data
		}
		resp, h, err := s.exchange(ctx, "write", wire.Frame(wire.WriteRequest(0, wItems, data)))
		var codes []byte
		if err == nil {
			_, codes, err = wire.ParseWriteResponse(resp, n)
			if err != nil && !errors.As(err, new(*JobError)) {
				err = fmt.Errorf("%w: %w", ErrBadResponse, err)
				s.drop(h)
			}
		}
		for i, w := range batch {
			switch {
			case errs[w.idx] != nil:
			case err != nil:
				errs[w.idx] = err
			case codes[i] != wire.RCSuccess:
				d.m.itemError(ReturnCode(codes[i]))
				errs[w.idx] = &ItemError{Address: items[w.idx].Tag.Address, Code: ReturnCode(codes[i])}
			}
		}
	}
	return errs
}
