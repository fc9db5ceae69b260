package failsafe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport"
)

// Errors of the monitor's operations.
var (
	// ErrUnknownModule: no module of that name.
	ErrUnknownModule = errors.New("monitor: no such module")
	// ErrNotRunning: the monitor is not serving.
	ErrNotRunning = errors.New("monitor: not running")
	// ErrNotHealthy: control cannot be handed to a module that is not
	// healthy.
	ErrNotHealthy = errors.New("monitor: module not healthy")
	// ErrOutOfEnvelope is the failure of a module whose output left its
	// envelope (errors.Is on an *EnvelopeError).
	ErrOutOfEnvelope = errors.New("monitor: output out of envelope")
)

// EnvelopeError reports a tag a module drove outside its allowed range.
type EnvelopeError struct {
	// Tag is the tag read out of range.
	Tag string
	// Value is its value in engineering units.
	Value float64
	// Min and Max are the configured limits (nil: open).
	Min, Max *float64
}

// Error names the tag, its value and the allowed range.
func (e *EnvelopeError) Error() string {
	b := func(p *float64) string {
		if p == nil {
			return "open"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("monitor: %s = %g outside [%s, %s]", e.Tag, e.Value, b(e.Min), b(e.Max))
}

// Is matches ErrOutOfEnvelope.
func (e *EnvelopeError) Is(target error) bool { return target == ErrOutOfEnvelope }

// Option sets a code-only setting of a Monitor.
type Option func(*options)

type options struct {
	log        *zap.Logger
	clock      clock.Clock
	events     transport.Publisher
	heartbeats transport.Subscriber
	audit      plc.AuditSink
	metrics    *supervise.Metrics
	onEvent    func(Event)
}

// WithLogger logs through l (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock runs every period, deadline and delay on c (default the real
// clock); tests pass a clock.Fake.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEvents publishes status events on p (default: none). The monitor
// does not close p.
func WithEvents(p transport.Publisher) Option { return func(o *options) { o.events = p } }

// WithHeartbeats reads the heartbeats of modules with source "topic"
// from s: every message keyed with a module's heartbeat key is a beat.
// The monitor does not close s.
func WithHeartbeats(s transport.Subscriber) Option { return func(o *options) { o.heartbeats = s } }

// WithAudit records every fail-safe and hand-back write in a (default:
// logged at info level).
func WithAudit(a plc.AuditSink) Option { return func(o *options) { o.audit = a } }

// WithSupervisorMetrics counts the supervisor tree's starts, restarts and
// exits into m.
func WithSupervisorMetrics(m *supervise.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithEventHook calls fn with every status event, on the module's
// controller goroutine, before it is published; fn must be quick.
func WithEventHook(fn func(Event)) Option { return func(o *options) { o.onEvent = fn } }

// Monitor supervises AI modules and makes the plant safe when one fails.
type Monitor struct {
	cfg     Config
	db      *plc.PointDB
	drivers map[string]plc.Driver
	writer  *plc.Writer
	o       options
	log     *zap.Logger
	clk     clock.Clock
	root    *supervise.Supervisor
	mods    []*module
	byName  map[string]*module
	metrics *metrics
	pub     *publisher

	mu      sync.Mutex
	serving bool
}

// New returns a Monitor for cfg, watching and writing the tags of db
// through drivers (keyed by device name; the monitor does not close
// them). cfg must have passed Validate (Parse and Load do that); New
// checks its tags against db.
func New(cfg Config, db *plc.PointDB, drivers map[string]plc.Driver, opts ...Option) (*Monitor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Check(db); err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, db: db, drivers: drivers, byName: map[string]*module{}}
	for _, o := range opts {
		o(&m.o)
	}
	m.log = m.o.log
	if m.log == nil {
		m.log = zap.NewNop()
	}
	m.clk = clock.Or(m.o.clock)
	for i, mc := range cfg.Modules {
		if h := mc.Heartbeat; h != nil && h.Source == SourceTopic && m.o.heartbeats == nil {
			return nil, cfg.errorf(fmt.Sprintf("modules[%d].heartbeat.source", i), "source topic needs a heartbeat subscription (heartbeats)")
		}
	}
	audit := m.o.audit
	if audit == nil {
		audit = plc.AuditFunc(func(_ context.Context, r plc.AuditRecord) error {
			m.log.Info("audit", zap.String("tag", r.Tag), zap.String("who", r.Principal.Who), zap.Stringer("new", r.New),
				zap.Stringer("old", r.Old), zap.Stringer("read_back", r.ReadBack), zap.String("result", r.Result()))
			return nil
		})
	}
	w, err := plc.NewWriter(plc.WriterConfig{Verify: true, Tolerance: 1e-3}, db, drivers, audit,
		plc.WithWriterClock(m.clk), plc.WithWriterLogger(m.log.Named("writer")))
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m.writer = w
	m.metrics = newMetrics()
	m.pub = newPublisher(m.o.events, m.log, m.metrics)
	sopts := []supervise.Option{supervise.WithClock(m.clk), supervise.WithLogger(m.log.Named("tree")),
		supervise.WithEventHook(m.rootEvent)}
	if m.o.metrics != nil {
		sopts = append(sopts, supervise.WithMetrics(m.o.metrics))
	}
	root, err := supervise.New(supervise.Config{Name: "ai-monitor", Intensity: 1 << 30, Period: time.Second}, sopts...)
	if err != nil {
		return nil, err
	}
	m.root = root
	for i := range cfg.Modules {
		mod, err := newModule(m, &m.cfg.Modules[i])
		if err != nil {
			return nil, err
		}
		m.mods = append(m.mods, mod)
		m.byName[mod.name] = mod
		if err := root.Add(context.Background(), supervise.Spec{Name: mod.name, Restart: supervise.Temporary, New: mod.newSupervisor, Shutdown: 20 * time.Second}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Serve runs the modules and their controllers until ctx is cancelled.
// Then it stops the modules, writes every module's fail-safe values once
// more (nobody watches the modules any longer) and returns.
func (m *Monitor) Serve(ctx context.Context) error {
	m.mu.Lock()
	if m.serving {
		m.mu.Unlock()
		return supervise.ErrRunning
	}
	m.serving = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.serving = false
		m.mu.Unlock()
	}()

	// The controllers outlive the tree, so that every event the tree
	// emits while it stops finds its controller.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { m.pub.run(cctx) })
	for _, mod := range m.mods {
		wg.Go(func() { mod.control(cctx) })
	}
	if m.o.heartbeats != nil {
		wg.Go(func() { m.readHeartbeats(cctx) })
	}
	err := m.root.Serve(ctx)
	cancel()
	wg.Wait()

	// The modules are stopped: make the plant safe for good.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	for _, mod := range m.mods {
		if werr := mod.writeAll(sctx, mod.failSafe); werr != nil {
			m.log.Error("fail-safe write at shutdown failed", zap.String("module", mod.name), zap.Error(werr))
			err = errors.Join(err, fmt.Errorf("monitor: %s: fail-safe at shutdown: %w", mod.name, werr))
		}
	}
	m.pub.flush(sctx)
	return err
}

// readHeartbeats dispatches heartbeat messages to modules by key.
func (m *Monitor) readHeartbeats(ctx context.Context) {
	keys := map[string]*module{}
	for _, mod := range m.mods {
		if h := mod.cfg.Heartbeat; h != nil && h.Source == SourceTopic {
			k := h.Key
			if k == "" {
				k = mod.name
			}
			keys[k] = mod
		}
	}
	for {
		d, err := m.o.heartbeats.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("heartbeat subscription", zap.Error(err))
			t := m.clk.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			continue
		}
		if mod := keys[d.Message().Key]; mod != nil {
			select {
			case mod.topicBeat <- struct{}{}:
			default:
			}
		}
		_ = d.Ack()
	}
}

// rootEvent receives the events of the monitor's own supervisor, whose
// children are the modules' supervisors.
func (m *Monitor) rootEvent(e supervise.Event) {
	mod := m.byName[e.Child]
	if mod == nil {
		return
	}
	if e.Kind == supervise.EventFailed {
		mod.signal(sig{kind: sigFailed, err: e.Err})
	}
}

// Reset brings back a module declared failed: it is restarted afresh, and
// control is handed back after its stable period as after any recovery
// (or by an operator, for manual-only plans). Resetting a module that is
// not failed restarts it too.
func (m *Monitor) Reset(ctx context.Context, name string) error {
	mod := m.byName[name]
	if mod == nil {
		return fmt.Errorf("%w: %q", ErrUnknownModule, name)
	}
	if !m.running() {
		return ErrNotRunning
	}
	if err := mod.call(ctx, sigReset); err != nil {
		return err
	}
	if err := m.root.Restart(ctx, name); err != nil {
		if errors.Is(err, supervise.ErrStopped) {
			return ErrNotRunning
		}
		return err
	}
	return nil
}

// HandBack hands control back to a healthy module at once, as an
// operator does for a manual-only plan. It fails with ErrNotHealthy for a
// module that is not healthy or whose fail-safe plan is not yet verified.
func (m *Monitor) HandBack(ctx context.Context, name string) error {
	mod := m.byName[name]
	if mod == nil {
		return fmt.Errorf("%w: %q", ErrUnknownModule, name)
	}
	if !m.running() {
		return ErrNotRunning
	}
	return mod.call(ctx, sigHandBack)
}

func (m *Monitor) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.serving
}

// Modules returns the state of every module, in configuration order.
func (m *Monitor) Modules() []ModuleStatus {
	out := make([]ModuleStatus, 0, len(m.mods))
	for _, mod := range m.mods {
		out = append(out, mod.status())
	}
	return out
}

// Module returns the state of one module.
func (m *Monitor) Module(name string) (ModuleStatus, error) {
	mod := m.byName[name]
	if mod == nil {
		return ModuleStatus{}, fmt.Errorf("%w: %q", ErrUnknownModule, name)
	}
	return mod.status(), nil
}

// Handovers returns the recent handovers of every module (the last 100
// of each), oldest first.
func (m *Monitor) Handovers() []Handover {
	var out []Handover
	for _, mod := range m.mods {
		mod.mu.Lock()
		out = append(out, mod.handovers...)
		mod.mu.Unlock()
	}
	sortHandovers(out)
	return out
}

// Tree returns the supervisor tree's status.
func (m *Monitor) Tree() supervise.Status { return m.root.Status() }
