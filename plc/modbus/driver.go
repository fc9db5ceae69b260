package modbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
	"github.com/kiln-iot/kiln/reconnect"
)

func init() {
	plc.Register(plc.Registration{Name: "modbus", CheckAddress: CheckAddress, CheckDevice: checkDevice, Open: Open})
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

// WithRegisterer registers the driver's Prometheus collectors with r;
// Close unregisters them.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithClock sets the clock of reconnection delays and the inter-request
// delay (default: the system clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEvents reports the connection's session events (connected, lost
// with its cause, retrying in) to fn, as package reconnect gives them.
// Drivers that share a serial line or an RTU gateway share its
// connection, and the first driver's hook is the one called.
func WithEvents(fn func(reconnect.Event)) Option { return func(o *options) { o.events = fn } }

// Driver reads and writes one Modbus device, or several units behind one
// gateway. It implements plc.Driver and is safe for concurrent use.
type Driver struct {
	cfg      Config
	endpoint string
	name     string
	log      *zap.Logger
	clk      clock.Clock
	reg      prometheus.Registerer
	m        *metrics
	cb       *gobreaker.CircuitBreaker[[]byte]
	ad       AddressDefaults
	mu       sync.Mutex // guards conn and release, set once by New
	conn     *connector
	release  func()

	life      context.Context // ended by Close: interrupts requests
	cancel    context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once
}

var driverSeq atomic.Uint64

// New returns a driver for the device at cfg.Endpoint: host or host:port
// (port 502 by default) for modes tcp and rtuovertcp, the serial
// device's path for mode rtu. It connects in the background and returns
// at once; the first read waits for the first connection attempt.
// Drivers of one serial port or one RTU-over-TCP gateway (same mode and
// endpoint) share one connection, so that their requests never overlap
// on the line; the first driver's timeouts and delay apply to it.
func New(cfg Config, opts ...Option) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	addr := cfg.Endpoint // not empty: Validate requires it
	if cfg.Mode != ModeRTU {
		addr = hostPort(addr)
	}
	o := options{name: addr}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	d := &Driver{
		cfg:      cfg,
		endpoint: addr,
		name:     o.name,
		log:      o.log.With(zap.String("device", o.name), zap.String("endpoint", addr)),
		clk:      clock.Or(o.clock),
		reg:      o.reg,
		ad:       cfg.addressDefaults(),
	}
	d.m = newMetrics(o.name, func() float64 {
		if c := d.connector(); c != nil {
			return float64(c.reconnects.Load())
		}
		return 0
	})
	if d.reg != nil {
		if err := d.m.register(d.reg); err != nil {
			return nil, err
		}
	}
	settings := cfg.Breaker.Settings(o.name)
	settings.IsSuccessful = func(err error) bool {
		// An exception is an answer; a cancelled request says nothing
		// about the device.
		return err == nil || errors.As(err, new(*ExceptionError)) || errors.Is(err, context.Canceled)
	}
	settings.OnStateChange = func(_ string, from, to gobreaker.State) {
		d.m.setBreaker(to)
		d.log.Info("modbus circuit breaker", zap.Stringer("from", from), zap.Stringer("to", to))
	}
	d.cb = gobreaker.NewCircuitBreaker[[]byte](settings)
	key := cfg.Mode + " " + addr
	if cfg.Mode == ModeTCP {
		key += " #" + strconv.FormatUint(driverSeq.Add(1), 10) // a connection of its own
	}
	conn, release := acquire(key, func() *connector {
		return &connector{dial: d.dial, reconnect: cfg.Retry, timeout: cfg.ConnectTimeout, clk: d.clk, log: d.log, events: o.events, first: make(chan struct{})}
	})
	d.mu.Lock()
	d.conn, d.release = conn, release
	d.mu.Unlock()
	d.life, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// dial makes one connection attempt. A failed attempt counts as a
// failure with the breaker; a successful one does not count as a
// success, so a device that accepts connections but never answers still
// opens it.
func (d *Driver) dial(ctx context.Context) (link, error) {
	l, err := d.open(ctx)
	if err != nil {
		_, _ = d.cb.Execute(func() ([]byte, error) { return nil, err })
	}
	return l, err
}

// open connects for the device's mode.
func (d *Driver) open(ctx context.Context) (link, error) {
	switch d.cfg.Mode {
	case ModeRTU:
		f, err := openSerial(d.endpoint, d.cfg)
		if err != nil {
			return nil, err
		}
		return newRTULink(f, d.cfg.Delay, d.clk), nil
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", d.endpoint)
	if err != nil {
		return nil, fmt.Errorf("modbus: connect %s: %w", d.endpoint, err)
	}
	if d.cfg.Mode == ModeRTUOverTCP {
		return newRTULink(c, d.cfg.Delay, d.clk), nil
	}
	return newTCPLink(c, d.cfg.InFlight), nil
}

// Close disconnects (the shared connection of a serial line or gateway
// when its last driver closes). It interrupts requests under way and is
// idempotent.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.cancel()
		d.release()
		if d.reg != nil {
			d.m.unregister(d.reg)
		}
	})
	return nil
}

func (d *Driver) connector() *connector {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

// BreakerState returns the circuit breaker's state.
func (d *Driver) BreakerState() gobreaker.State { return d.cb.State() }

// request sends one request PDU to unit through the breaker and returns
// the answer's body: the data of a read, nothing for a write. A device's
// exception answer is an *ExceptionError.
func (d *Driver) request(ctx context.Context, op string, unit uint8, pdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := d.conn.link(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, plc.ErrNotConnected
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.life, cancel) // Close interrupts the request
	defer stop()
	d.m.inFlight.Inc()
	start := time.Now()
	body, err := d.cb.Execute(func() ([]byte, error) {
		resp, err := l.roundTrip(ctx, unit, pdu, d.cfg.Timeout)
		if err != nil {
			return nil, err
		}
		if pdu[0] <= wire.FCReadInputRegisters {
			qty := uint16(pdu[3])<<8 | uint16(pdu[4])
			body, err := wire.ParseRead(pdu[0], qty, resp)
			return body, d.answerErr(unit, pdu, err)
		}
		return nil, d.answerErr(unit, pdu, wire.ParseWrite(pdu, resp))
	})
	d.m.inFlight.Dec()
	d.m.rtt.WithLabelValues(op).Observe(time.Since(start).Seconds())
	var ee *ExceptionError
	switch {
	case err == nil:
		d.m.requests.WithLabelValues(op, "ok").Inc()
	case errors.As(err, &ee):
		d.m.requests.WithLabelValues(op, "exception").Inc()
		d.m.exceptions.WithLabelValues(fmt.Sprintf("0x%02x", byte(ee.Code))).Inc()
	default:
		d.m.requests.WithLabelValues(op, "error").Inc()
		if !breaker.Refused(err) && !errors.Is(err, context.Canceled) {
			d.log.Debug("modbus request failed", zap.Uint8("unit", unit), zap.Error(err))
		}
	}
	return body, err
}

// answerErr turns the wire's verdict on an answer into the driver's
// errors.
func (d *Driver) answerErr(unit uint8, pdu []byte, err error) error {
	var we *wire.ExceptionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we):
		return &ExceptionError{Unit: unit, Function: we.Function, Register: uint16(pdu[1])<<8 | uint16(pdu[2]), Code: Exception(we.Code)}
	case errors.Is(err, wire.ErrFrame):
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return err
}
