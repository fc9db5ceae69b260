package supervise

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
)

// Supervisor runs children and restarts them by its Config. It is itself
// a Service, so supervisors nest into trees. Its methods are safe for
// concurrent use.
type Supervisor struct {
	cfg     Config
	log     *zap.Logger
	clock   clock.Clock
	hook    func(Event)
	metrics *Metrics

	mu       sync.Mutex
	specs    []Spec // membership in start order, kept by Add/Remove
	running  bool
	reqs     chan request  // valid while running
	loopDone chan struct{} // closed when the running Serve ends
	path     string
	cur      *loop // the running or last loop; its children's status fields are written under mu
	state    string
	lastErr  error
}

// New returns a supervisor with cfg and opts, not yet running: add
// children with Add, then call Serve.
func New(cfg Config, opts ...Option) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	return &Supervisor{
		cfg: cfg, log: o.log, clock: clock.Or(o.clock), hook: o.hook, metrics: o.metrics,
		path: cfg.Name, state: "stopped",
	}, nil
}

type reqOp int

const (
	opAdd reqOp = iota
	opRemove
	opRestart
)

type request struct {
	op    reqOp
	spec  Spec
	name  string
	reply chan error
}

// Add adds a child. On a running supervisor it starts the child (after
// the others); otherwise the child starts with Serve. It waits only while
// the supervisor is busy stopping a child.
func (s *Supervisor) Add(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	return s.call(ctx, request{op: opAdd, spec: spec, name: spec.Name})
}

// Remove stops the named child (waiting up to its Shutdown timeout) and
// removes it.
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	return s.call(ctx, request{op: opRemove, name: name})
}

// Restart stops the named child if it runs and starts a fresh instance
// at once, whatever its state: the way to bring back a child declared
// Failed (a subtree that escalated). It does not count toward the restart
// intensity and resets the child's backoff. It fails with ErrStopped when
// the supervisor is not running.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	return s.call(ctx, request{op: opRestart, name: name})
}

func (s *Supervisor) call(ctx context.Context, req request) error {
	for {
		s.mu.Lock()
		if !s.running {
			err := s.offline(req)
			s.mu.Unlock()
			return err
		}
		reqs, done := s.reqs, s.loopDone
		s.mu.Unlock()
		req.reply = make(chan error, 1)
		select {
		case reqs <- req:
			select {
			case err := <-req.reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-done:
			// Serve ended meanwhile: retry on the stopped supervisor.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// offline applies req to a supervisor that is not running; s.mu is held.
func (s *Supervisor) offline(req request) error {
	i := slices.IndexFunc(s.specs, func(sp Spec) bool { return sp.Name == req.name })
	switch req.op {
	case opAdd:
		if i >= 0 {
			return fmt.Errorf("%w: %q", ErrDuplicate, req.name)
		}
		s.specs = append(s.specs, req.spec)
		return nil
	case opRemove:
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrNotFound, req.name)
		}
		s.specs = slices.Delete(s.specs, i, i+1)
		return nil
	default:
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrNotFound, req.name)
		}
		return ErrStopped
	}
}

// Serve starts the children in order and supervises them until ctx is
// cancelled, then stops them in reverse order and returns nil (or an
// error wrapping ErrStopTimeout naming children left behind). When the
// restart intensity is exceeded it stops the children and returns an
// *EscalationError. A supervisor serves once at a time; Serve may be
// called again after it returned, starting every child afresh.
func (s *Supervisor) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	path := s.cfg.Name
	if i := infoOf(ctx); i != nil {
		path = i.l.path + "/" + i.name
	}
	l := &loop{
		s: s, cfg: s.cfg, clock: s.clock, ctx: ctx, path: path,
		log:  s.log.With(zap.String("supervisor", path)),
		wake: make(chan struct{}, 1), reqs: make(chan request),
	}
	// Children get their own cancellation, so that they stop one by one
	// in reverse order, but keep ctx's values.
	l.base = context.WithoutCancel(ctx)
	for _, sp := range s.specs {
		l.children = append(l.children, &child{spec: sp, state: StateStopped})
	}
	s.running, s.reqs, s.loopDone = true, l.reqs, make(chan struct{})
	s.path, s.state, s.lastErr, s.cur = path, "running", nil, l
	s.mu.Unlock()

	if s.hook != nil {
		l.events = newDispatcher(s.hook, l.log, func() {
			if m := s.metrics; m != nil {
				m.dropped.WithLabelValues(path).Inc()
			}
		})
	}
	err := l.serve()
	if l.events != nil {
		l.events.close()
	}

	s.mu.Lock()
	s.running = false
	close(s.loopDone)
	s.state, s.lastErr = "stopped", err
	if errors.Is(err, ErrEscalated) {
		s.state = "escalated"
	}
	s.mu.Unlock()
	return err
}

// State is where a child is in its life.
type State int

// Child states.
const (
	// StateStopped: not running because the supervisor is not, or it
	// stopped the child.
	StateStopped State = iota
	// StateRunning: its Serve is running.
	StateRunning
	// StateBackoff: waiting to be (re)started.
	StateBackoff
	// StateDone: exited cleanly and not restarted (transient, temporary).
	StateDone
	// StateFailed: exited abnormally and not restarted (transient,
	// temporary) until Restart.
	StateFailed
)

var stateNames = [...]string{"stopped", "running", "backoff", "done", "failed"}

// String returns the state's name.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText encodes s by name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a name written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("%w: child state %q (want one of %v)", ErrInvalid, b, stateNames)
}

// child is one child of a running supervisor; owned by the loop.
type child struct {
	spec      Spec
	state     State
	starts    int
	restarts  int
	lastErr   error
	since     time.Time
	attempt   int // consecutive failures, for the backoff
	restartAt time.Time
	run       *run
}

// run is one start of a child: its Service instance and goroutines.
type run struct {
	info     childInfo // in the child's context; part of run to save an allocation
	svc      Service
	cancel   context.CancelFunc
	started  time.Time
	stopping bool // loop only: the supervisor cancelled it
	pending  bool // loop only: its goroutine is not launched yet

	done chan struct{} // Serve returned
	err  error         // Serve's result, written before done closes
	mon  *monitors     // nil for a child without watchdog and probes
}

// monitors is the state a run's watchdog and probes share with the loop.
type monitors struct {
	finished chan struct{} // Serve and every monitor returned
	active   atomic.Int32  // running goroutines
	lastBeat atomic.Int64

	mu     sync.Mutex
	fault  error             // hung, liveness failed
	health [Startup + 1]bool // probe verdicts by ProbeKind
}

// finished is closed when Serve and every monitor returned.
func (r *run) finished() <-chan struct{} {
	if r.mon == nil {
		return r.done
	}
	return r.mon.finished
}

// goDo runs f on a goroutine counted in m.active.
func (m *monitors) goDo(f func()) {
	m.active.Add(1)
	go func() {
		defer m.release()
		f()
	}()
}

func (m *monitors) release() {
	if m.active.Add(-1) == 0 {
		close(m.finished)
	}
}

func (m *monitors) setFault(err error) {
	m.mu.Lock()
	if m.fault == nil {
		m.fault = err
	}
	m.mu.Unlock()
}

func (r *run) getFault() error {
	if r.mon == nil {
		return nil
	}
	r.mon.mu.Lock()
	defer r.mon.mu.Unlock()
	return r.mon.fault
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// loop is one Serve of a supervisor; its fields belong to the Serve
// goroutine except where noted.
type loop struct {
	s      *Supervisor
	cfg    Config
	clock  clock.Clock
	log    *zap.Logger
	ctx    context.Context
	base   context.Context
	path   string
	events *dispatcher // nil without a hook; safe from any goroutine
	wake   chan struct{}
	reqs   chan request

	launch     []pending // unmonitored runs to start before the loop waits
	children   []*child
	restarts   window // recent restarts, for the intensity
	timer      clock.Timer
	escalation *EscalationError
	shutting   bool
	leftBehind []string
}

func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *loop) emit(e Event) {
	if l.events == nil {
		return
	}
	e.Time = l.clock.Now()
	e.Supervisor = l.path
	l.events.emit(e)
}

func (l *loop) serve() error {
	now := l.clock.Now()
	l.s.mu.Lock()
	for _, c := range l.children {
		c.state, c.restartAt = StateBackoff, now
	}
	l.s.mu.Unlock()
	for {
		l.startDue()
		if l.escalation != nil {
			l.launchAll()
			l.stopAll()
			return l.escalation
		}
		l.arm()
		l.launchAll()
		var tc <-chan time.Time
		if l.timer != nil {
			tc = l.timer.C()
		}
		select {
		case <-l.ctx.Done():
			l.shutting = true
			l.stopAll()
			if len(l.leftBehind) > 0 {
				return fmt.Errorf("%w: %s: %s", ErrStopTimeout, l.path, strings.Join(l.leftBehind, ", "))
			}
			return nil
		case <-l.wake:
			l.reap()
		case <-tc:
		case req := <-l.reqs:
			req.reply <- l.handle(req)
		}
	}
}

// startDue starts, in order, the children whose restart time has come.
func (l *loop) startDue() {
	now := l.clock.Now()
	for i := 0; i < len(l.children) && l.escalation == nil; i++ {
		c := l.children[i]
		if c.state == StateBackoff && !now.Before(c.restartAt) {
			l.start(c)
		}
	}
}

// arm sets the timer to the earliest pending restart.
func (l *loop) arm() {
	var next time.Time
	for _, c := range l.children {
		if c.state == StateBackoff && (next.IsZero() || c.restartAt.Before(next)) {
			next = c.restartAt
		}
	}
	if next.IsZero() {
		if l.timer != nil {
			l.timer.Stop()
		}
		return
	}
	d := next.Sub(l.clock.Now())
	if l.timer == nil {
		l.timer = l.clock.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
}

func (l *loop) start(c *child) {
	now := l.clock.Now()
	svc, err := callFactory(c.spec.New)
	if err != nil {
		l.failed(c, fmt.Errorf("supervise: start %s: %w", c.spec.Name, err), 0, "start")
		return
	}
	monitored := c.spec.Watchdog > 0 || c.spec.Health != (Health{})
	r := &run{svc: svc, started: now, done: make(chan struct{})}
	if monitored {
		r.mon = &monitors{finished: make(chan struct{})}
		r.mon.health[Liveness] = true
		r.mon.lastBeat.Store(now.UnixNano())
	}
	cctx, cancel := context.WithCancel(l.base)
	r.info = childInfo{Context: cctx, name: c.spec.Name, l: l, r: r}
	r.cancel = cancel
	ctx := context.Context(&r.info) // carries the child's identity, saving a WithValue
	l.s.mu.Lock()
	c.run, c.state, c.since = r, StateRunning, now
	c.starts++
	if c.starts > 1 {
		c.restarts++
	}
	l.s.mu.Unlock()
	l.count(func(m *Metrics) { m.starts.WithLabelValues(l.path, c.spec.Name).Inc() })
	if c.starts == 1 {
		if ce := l.log.Check(zap.DebugLevel, "child started"); ce != nil {
			ce.Write(zap.String("child", c.spec.Name))
		}
		l.emit(Event{Kind: EventStarted, Child: c.spec.Name})
	} else {
		l.count(func(m *Metrics) { m.restarts.WithLabelValues(l.path, c.spec.Name).Inc() })
		if ce := l.log.Check(zap.InfoLevel, "child restarted"); ce != nil {
			ce.Write(zap.String("child", c.spec.Name), zap.Int("restarts", c.restarts))
		}
		l.emit(Event{Kind: EventRestarted, Child: c.spec.Name, Restarts: c.restarts})
	}

	if !monitored {
		r.pending = true
		l.launch = append(l.launch, pending{ctx, r})
		return
	}
	m := r.mon
	m.active.Store(2) // the Serve goroutine's, and one held until every monitor is launched
	go func() {
		r.err = serveSafe(ctx, svc)
		close(r.done)
		m.release() // before waking the loop, so that it need not wait
		l.poke()
	}()
	if c.spec.Watchdog > 0 {
		m.goDo(func() { l.watchdog(ctx, c.spec.Watchdog, r) })
	}
	if h := c.spec.Health; h != (Health{}) {
		l.startProbes(ctx, c, r, h)
	}
	m.release()
}

// startProbes runs the probes of h against r: startup first, then
// liveness and readiness side by side.
func (l *loop) startProbes(ctx context.Context, c *child, r *run, h Health) {
	probe := func(k ProbeKind, p *Probe) {
		pr := &prober{kind: k, p: p.withDefaults(), l: l, c: c, r: r}
		r.mon.goDo(func() { pr.run(ctx) })
	}
	if h.Startup != nil {
		pr := &prober{kind: Startup, p: h.Startup.withDefaults(), l: l, c: c, r: r}
		r.mon.goDo(func() {
			if !pr.run(ctx) {
				return
			}
			if h.Liveness != nil {
				probe(Liveness, h.Liveness)
			}
			if h.Readiness != nil {
				probe(Readiness, h.Readiness)
			}
		})
	} else {
		if h.Liveness != nil {
			probe(Liveness, h.Liveness)
		}
		if h.Readiness != nil {
			probe(Readiness, h.Readiness)
		}
	}
}

func callFactory(f func() (Service, error)) (svc Service, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	svc, err = f()
	if err == nil && svc == nil {
		err = errors.New("factory returned a nil Service")
	}
	return svc, err
}

func serveSafe(ctx context.Context, svc Service) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	return svc.Serve(ctx)
}

func newPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

// watchdog faults r when no Beat came within d.
func (l *loop) watchdog(ctx context.Context, d time.Duration, r *run) {
	t := l.clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			left := d - l.clock.Now().Sub(time.Unix(0, r.mon.lastBeat.Load()))
			if left > 0 {
				t.Reset(left)
				continue
			}
			r.mon.setFault(fmt.Errorf("%w (%v)", ErrHung, d))
			l.poke()
			return
		}
	}
}

// probeResult records a probe's new verdict; a failed liveness or startup
// probe faults the run. Called from prober goroutines.
func (l *loop) probeResult(c *child, r *run, k ProbeKind, ok bool, err error) {
	r.mon.mu.Lock()
	r.mon.health[k] = ok
	r.mon.mu.Unlock()
	name := c.spec.Name
	if ok {
		l.log.Info("probe healthy", zap.String("child", name), zap.Stringer("probe", k))
	} else {
		l.log.Warn("probe unhealthy", zap.String("child", name), zap.Stringer("probe", k), zap.Error(err))
	}
	l.emit(Event{Kind: EventHealthChanged, Child: name, Probe: k, Healthy: ok, Err: err})
	if !ok && k != Readiness {
		r.mon.setFault(fmt.Errorf("%w: %s probe: %w", ErrLivenessFailed, k, err))
	}
	l.poke()
}

// reap handles children that returned or were faulted by a monitor.
func (l *loop) reap() {
	for _, c := range l.children { // exited and stop never change the list
		if l.escalation != nil {
			return
		}
		r := c.run
		if r == nil || r.stopping {
			continue
		}
		if isDone(r.done) {
			l.exited(c, r, r.err)
			continue
		}
		if f := r.getFault(); f != nil {
			if errors.Is(f, ErrHung) {
				l.log.Warn("child hung", zap.String("child", c.spec.Name), zap.Error(f))
				l.emit(Event{Kind: EventHung, Child: c.spec.Name, Err: f})
			}
			l.stop(c)
			l.exited(c, r, f)
		}
	}
}

// exited handles the end of run r of c with err.
func (l *loop) exited(c *child, r *run, err error) {
	if c.run == r {
		r.stopping = true
		r.cancel() // ends the monitors
		l.await(c, r)
		l.s.mu.Lock()
		c.run = nil
		l.s.mu.Unlock()
	}
	ran := l.clock.Now().Sub(r.started)
	name := c.spec.Name
	pe, panicked := err.(*PanicError) // as serveSafe returns it: no errors.As on the hot path
	reason := "clean"
	switch {
	case err == nil:
		if ce := l.log.Check(zap.InfoLevel, "child exited"); ce != nil {
			ce.Write(zap.String("child", name))
		}
		l.emit(Event{Kind: EventExited, Child: name})
	case panicked:
		reason = "panic"
		l.log.Error("child panicked", zap.String("child", name), zap.Any("panic", pe.Value), zap.ByteString("stack", pe.Stack))
		l.emit(Event{Kind: EventPanicked, Child: name, Err: err})
	default:
		switch {
		case errors.Is(err, ErrHung):
			reason = "hung"
		case errors.Is(err, ErrLivenessFailed):
			reason = "liveness"
		default:
			reason = "error"
		}
		if ce := l.log.Check(zap.WarnLevel, "child failed"); ce != nil {
			ce.Write(zap.String("child", name), zap.Error(err))
		}
		l.emit(Event{Kind: EventExited, Child: name, Err: err})
	}
	if err == nil {
		l.count(func(m *Metrics) { m.exits.WithLabelValues(l.path, name, reason).Inc() })
		if c.spec.Restart != Permanent {
			l.s.mu.Lock()
			c.state = StateDone
			l.s.mu.Unlock()
			return
		}
		l.restart(c, ran)
		return
	}
	l.failed(c, err, ran, reason)
}

// failed handles an abnormal end of c.
func (l *loop) failed(c *child, err error, ran time.Duration, reason string) {
	name := c.spec.Name
	l.s.mu.Lock()
	c.lastErr = err
	l.s.mu.Unlock()
	if reason == "start" {
		l.log.Warn("child failed to start", zap.String("child", name), zap.Error(err))
		l.emit(Event{Kind: EventExited, Child: name, Err: err})
	}
	l.count(func(m *Metrics) { m.exits.WithLabelValues(l.path, name, reason).Inc() })
	if c.spec.Restart != Permanent && c.spec.Restart != Transient {
		l.s.mu.Lock()
		c.state = StateFailed
		l.s.mu.Unlock()
		l.log.Error("child failed for good", zap.String("child", name), zap.Error(err))
		l.emit(Event{Kind: EventFailed, Child: name, Err: err, Restarts: c.restarts})
		return
	}
	l.restart(c, ran)
}

// restart applies the intensity, the child's backoff and the strategy.
func (l *loop) restart(c *child, ran time.Duration) {
	now := l.clock.Now()
	if l.restarts.add(now, l.cfg.Period) > l.cfg.Intensity {
		l.escalation = &EscalationError{Supervisor: l.path, Child: c.spec.Name, Restarts: l.cfg.Intensity, Period: l.cfg.Period, Err: c.lastErr}
		l.count(func(m *Metrics) { m.escalations.WithLabelValues(l.path).Inc() })
		l.log.Error("restart intensity exceeded, escalating", zap.Error(l.escalation))
		l.emit(Event{Kind: EventEscalated, Err: l.escalation})
		return
	}
	if ran >= l.cfg.StableAfter {
		c.attempt = 0
	}
	delay := l.cfg.delay(c.attempt)
	c.attempt++
	if delay > 0 {
		l.log.Info("child backing off", zap.String("child", c.spec.Name), zap.Duration("delay", delay))
		l.emit(Event{Kind: EventBackoff, Child: c.spec.Name, Delay: delay, Restarts: c.restarts})
	}
	at := now.Add(delay)
	l.s.mu.Lock()
	c.state, c.restartAt = StateBackoff, at
	l.s.mu.Unlock()
	if l.cfg.Strategy == OneForOne {
		return
	}
	group := []*child{c}
	i := slices.Index(l.children, c)
	for j, o := range l.children {
		if o == c || o.state != StateRunning && o.state != StateBackoff {
			continue
		}
		if l.cfg.Strategy == OneForAll || l.cfg.Strategy == RestForOne && j > i {
			group = append(group, o)
		}
	}
	// Stop the others in reverse start order.
	for j := len(l.children) - 1; j >= 0; j-- {
		if o := l.children[j]; o != c && slices.Contains(group, o) {
			l.stop(o)
		}
	}
	l.s.mu.Lock()
	for _, o := range group {
		o.state, o.restartAt = StateBackoff, at
	}
	l.s.mu.Unlock()
}

// stop cancels c's run and waits for it up to the shutdown timeout.
func (l *loop) stop(c *child) {
	r := c.run
	if r == nil {
		if c.state == StateBackoff {
			l.s.mu.Lock()
			c.state = StateStopped
			l.s.mu.Unlock()
		}
		return
	}
	if r.pending {
		l.launchAll()
	}
	r.stopping = true
	r.cancel()
	l.await(c, r)
	l.s.mu.Lock()
	c.run, c.state = nil, StateStopped
	l.s.mu.Unlock()
}

// await waits until r's goroutines all returned, or the shutdown timeout.
func (l *loop) await(c *child, r *run) {
	if isDone(r.finished()) {
		return
	}
	d := c.spec.shutdown()
	t := l.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.finished():
	case <-t.C():
		l.log.Error("child did not stop in time and is left behind",
			zap.String("child", c.spec.Name), zap.Duration("waited", d))
		l.emit(Event{Kind: EventStopTimeout, Child: c.spec.Name, Delay: d})
		l.count(func(m *Metrics) { m.stopTimeouts.WithLabelValues(l.path, c.spec.Name).Inc() })
		if l.shutting {
			l.leftBehind = append(l.leftBehind, c.spec.Name)
		}
	}
}

// stopAll stops every child in reverse start order.
func (l *loop) stopAll() {
	for i := len(l.children) - 1; i >= 0; i-- {
		l.stop(l.children[i])
	}
}

func (l *loop) handle(req request) error {
	i := slices.IndexFunc(l.children, func(c *child) bool { return c.spec.Name == req.name })
	switch req.op {
	case opAdd:
		if i >= 0 {
			return fmt.Errorf("%w: %q", ErrDuplicate, req.name)
		}
		l.s.mu.Lock()
		l.children = append(l.children, &child{spec: req.spec, state: StateBackoff, restartAt: l.clock.Now()})
		l.s.specs = append(l.s.specs, req.spec)
		l.s.mu.Unlock()
		return nil
	case opRemove:
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrNotFound, req.name)
		}
		l.stop(l.children[i])
		l.s.mu.Lock()
		l.children = slices.Delete(l.children, i, i+1)
		l.s.specs = slices.DeleteFunc(l.s.specs, func(sp Spec) bool { return sp.Name == req.name })
		l.s.mu.Unlock()
		return nil
	default:
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrNotFound, req.name)
		}
		c := l.children[i]
		l.stop(c)
		l.s.mu.Lock()
		c.attempt, c.state, c.restartAt = 0, StateBackoff, l.clock.Now()
		l.s.mu.Unlock()
		return nil
	}
}

func (l *loop) count(f func(*Metrics)) {
	if l.s.metrics != nil {
		f(l.s.metrics)
	}
}

// window holds the times of the restarts within the intensity period, in
// a ring that only grows while the count in the period does, so that a
// restart never copies the history.
type window struct {
	buf        []time.Time
	head, size int
}

// add records a restart at now, forgets those period or more before it,
// and returns how many remain.
func (w *window) add(now time.Time, period time.Duration) int {
	for w.size > 0 && now.Sub(w.buf[w.head]) >= period {
		w.head = (w.head + 1) % len(w.buf)
		w.size--
	}
	if w.size == len(w.buf) {
		grown := make([]time.Time, max(8, 2*len(w.buf)))
		for i := range w.size {
			grown[i] = w.buf[(w.head+i)%len(w.buf)]
		}
		w.buf, w.head = grown, 0
	}
	w.buf[(w.head+w.size)%len(w.buf)] = now
	w.size++
	return w.size
}

type pending struct {
	ctx context.Context
	r   *run
}

// launchAll starts the goroutines of the runs started since the loop
// last waited. Launching them just before the loop waits lets them run at
// once instead of queueing behind its bookkeeping.
func (l *loop) launchAll() {
	for i, p := range l.launch {
		if p.r.pending {
			p.r.pending = false
			go l.serveRun(p.ctx, p.r)
		}
		l.launch[i] = pending{}
	}
	l.launch = l.launch[:0]
}

// serveRun runs an unmonitored child.
func (l *loop) serveRun(ctx context.Context, r *run) {
	r.err = serveSafe(ctx, r.svc)
	close(r.done)
	l.poke()
}
