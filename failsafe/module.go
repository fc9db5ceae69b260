package failsafe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
)

// State is where a module stands with respect to control of the plant.
type State string

// Module states.
const (
	// StateStarting: the monitor started and the module has not yet been
	// healthy for its stable period; the plant is as the monitor found it.
	StateStarting State = "starting"
	// StateInControl: the module is healthy and has control.
	StateInControl State = "in_control"
	// StateHandingOver: the module was declared unhealthy and its
	// fail-safe values are being written (retried while that fails).
	StateHandingOver State = "handing_over"
	// StateFailSafe: the fail-safe values are verified in the PLC; the
	// module is recovering and gets control back after its stable period
	// (or from an operator).
	StateFailSafe State = "fail_safe"
	// StateFailed: the module exceeded its restart intensity and stays
	// down, its fail-safe values held, until an operator resets it.
	StateFailed State = "failed"
)

var states = []State{StateStarting, StateInControl, StateHandingOver, StateFailSafe, StateFailed}

// Handover kinds.
const (
	KindFailSafe = "fail_safe"
	KindHandBack = "hand_back"
)

// Handover is one change of control: the fail-safe plan written when a
// module failed, or control handed back to it.
type Handover struct {
	Module string `json:"module"`
	// Kind is "fail_safe" or "hand_back".
	Kind string `json:"kind"`
	// Reason is why: the module's failure, or its stable health.
	Reason string `json:"reason"`
	// DetectedAt is when the failure (or the stable period's end, or the
	// operator's request) was seen; CompletedAt when every tag of the plan
	// was written and verified by read-back (zero while retrying).
	DetectedAt  time.Time `json:"detected_at"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// Attempts counts the writes of the plan; LastError is the last
	// failed one's error.
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	// Manual is set for an operator's hand-back.
	Manual bool `json:"manual,omitempty"`
}

// Failure is a module's last failure.
type Failure struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// WatchStatus is the state of a heartbeat or envelope watch.
type WatchStatus struct {
	// Source is the heartbeat's source (tag, topic, http).
	Source string `json:"source,omitempty"`
	// LastBeat is the last heartbeat seen.
	LastBeat time.Time `json:"last_beat,omitzero"`
	// LastCheck is the end of the last read of the tag(s) or probe.
	LastCheck time.Time `json:"last_check,omitzero"`
}

// ModuleStatus is a snapshot of one module.
type ModuleStatus struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Healthy: running, live, ready, beating and not failed.
	Healthy bool `json:"healthy"`
	// HealthySince is when the module last became healthy.
	HealthySince time.Time `json:"healthy_since,omitzero"`
	Running      bool      `json:"running"`
	Ready        bool      `json:"ready"`
	// PID is the module's process id (process modules while running).
	PID int `json:"pid,omitempty"`
	// Starts counts the module's starts, restarts included.
	Starts int `json:"starts"`
	// Alarm is set while a fail-safe or hand-back write keeps failing.
	Alarm       bool         `json:"alarm"`
	AlarmError  string       `json:"alarm_error,omitempty"`
	ManualOnly  bool         `json:"manual_only"`
	LastFailure *Failure     `json:"last_failure,omitempty"`
	Heartbeat   *WatchStatus `json:"heartbeat,omitempty"`
	Envelope    *WatchStatus `json:"envelope,omitempty"`
	// LastHandover is the module's latest handover.
	LastHandover *Handover `json:"last_handover,omitempty"`
}

type sigKind int

const (
	sigUp sigKind = iota + 1
	sigDown
	sigBeat
	sigReady
	sigNotReady
	sigFailed
	sigReset
	sigHandBack
)

type sig struct {
	kind   sigKind
	reason string
	err    error
	reply  chan error
}

type tagWrite struct {
	tag string
	v   plc.Value
}

const maxHandovers = 100

// module is one AI module: its supervisor's factory, its run (the
// program and its watches) and its controller, which owns control of the
// plant for it.
type module struct {
	m         *Monitor
	cfg       *ModuleConfig
	name      string
	failSafe  []tagWrite
	handBack  []tagWrite
	in        chan sig
	topicBeat chan struct{}
	proc      atomic.Pointer[supervise.Process]
	runs      atomic.Int64 // runs made by newRun

	mu           sync.Mutex
	state        State
	running      bool
	beat         bool
	ready        bool
	down         bool // a failure was seen in the current run
	failed       bool
	alarm        string
	starts       int
	lastFailure  *Failure
	healthySince time.Time
	handovers    []Handover
	hb, env      WatchStatus
	safePending  bool          // a fail-safe plan is being written
	changed      chan struct{} // closed and replaced when starts or safePending change

	// Owned by the controller goroutine.
	waiters  []chan error // runs waiting for the fail-safe plan
	held     bool         // the fail-safe values are in the PLC
	pending  string
	attempts int
	stableT  clock.Timer
	retryT   clock.Timer
}

func newModule(m *Monitor, cfg *ModuleConfig) (*module, error) {
	mod := &module{m: m, cfg: cfg, name: cfg.Name, in: make(chan sig, 256), topicBeat: make(chan struct{}, 1), state: StateStarting,
		changed: make(chan struct{})}
	var err error
	if mod.failSafe, err = m.plan(cfg.FailSafe.Write); err != nil {
		return nil, err
	}
	if mod.handBack, err = m.plan(cfg.FailSafe.HandBack.Write); err != nil {
		return nil, err
	}
	if cfg.Heartbeat != nil {
		mod.hb.Source = cfg.Heartbeat.Source
	}
	m.metrics.setState(mod.name, StateStarting)
	return mod, nil
}

func (m *Monitor) plan(ws []TagValue) ([]tagWrite, error) {
	var out []tagWrite
	for _, w := range ws {
		t, _ := m.db.Tag(w.Tag) // Check made sure it exists
		v, err := parseFor(t, w.Value)
		if err != nil {
			return nil, fmt.Errorf("monitor: %s: %w", w.Tag, err)
		}
		out = append(out, tagWrite{w.Tag, v})
	}
	return out, nil
}

// newSupervisor makes the module's own supervisor: one child running the
// program (or waiting, for a service) with its watches and probes.
func (mod *module) newSupervisor() (supervise.Service, error) {
	m := mod.m
	opts := []supervise.Option{supervise.WithClock(m.clk), supervise.WithLogger(m.log.Named(mod.name)), supervise.WithEventHook(mod.event)}
	if m.o.metrics != nil {
		opts = append(opts, supervise.WithMetrics(m.o.metrics))
	}
	sup, err := supervise.New(mod.cfg.Restart.supervisor(mod.name), opts...)
	if err != nil {
		return nil, err
	}
	spec := supervise.Spec{Name: "module", New: mod.newRun, Shutdown: 15 * time.Second}
	if p := mod.cfg.Process; p != nil {
		stop := p.StopTimeout
		if stop == 0 {
			stop = 5 * time.Second
		}
		spec.Shutdown = stop + 5*time.Second
	}
	if h := mod.cfg.Heartbeat; h != nil {
		spec.Watchdog = h.timeout()
	}
	live := mod.cfg.Liveness
	if live == nil && mod.cfg.Service != nil {
		live = &ProbeConfig{}
	}
	spec.Health.Liveness = mod.probe(live, true)
	spec.Health.Readiness = mod.probe(mod.cfg.Readiness, false)
	return sup, sup.Add(context.Background(), spec)
}

// probe makes the supervise probe of pc. A liveness probe passes while
// the run holds the module back (before its program starts, until a
// fail-safe plan is verified; after it ended, until its own plan is):
// the wait is the plant's, not the module's, and must not count toward
// its restart intensity, however long a PLC outage lasts. Its initial
// delay runs again from the program's actual start.
func (mod *module) probe(pc *ProbeConfig, liveness bool) *supervise.Probe {
	if pc == nil {
		return nil
	}
	u, want := pc.URL, pc.ExpectStatus
	if u == "" && mod.cfg.Service != nil {
		u = mod.cfg.Service.URL
		if want == 0 {
			want = mod.cfg.Service.ExpectStatus
		}
	}
	period := pc.Period
	if period == 0 {
		period = DefaultProbePeriod
	}
	return &supervise.Probe{
		Check: func(ctx context.Context, svc supervise.Service) error {
			if r, ok := svc.(*run); ok && liveness && r.excused(pc.InitialDelay) {
				return nil
			}
			return probeHTTP(ctx, u, want)
		},
		InitialDelay:     pc.InitialDelay,
		Period:           period,
		Timeout:          pc.Timeout,
		FailureThreshold: pc.FailureThreshold,
		SuccessThreshold: pc.SuccessThreshold,
	}
}

var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func probeHTTP(ctx context.Context, url string, want int) error {
	if want == 0 {
		want = http.StatusOK
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

// event receives the events of the module's supervisor.
func (mod *module) event(e supervise.Event) {
	switch e.Kind {
	case supervise.EventStarted, supervise.EventRestarted:
		mod.signal(sig{kind: sigUp})
	case supervise.EventExited, supervise.EventPanicked:
		mod.signal(sig{kind: sigDown, reason: mod.exitReason(e.Err), err: e.Err})
	case supervise.EventHung:
		mod.signal(sig{kind: sigDown, reason: "heartbeat missed", err: e.Err})
	case supervise.EventHealthChanged:
		switch {
		case e.Probe == supervise.Readiness && e.Healthy:
			mod.signal(sig{kind: sigReady})
		case e.Probe == supervise.Readiness:
			mod.signal(sig{kind: sigNotReady})
		case !e.Healthy:
			mod.signal(sig{kind: sigDown, reason: fmt.Sprintf("%s probe failed: %v", e.Probe, e.Err), err: e.Err})
		}
	}
}

// exitReason says why a run that ended with err lost control. A
// process's reason is its exit status or start failure without the
// program's path (the module is named beside it, and a path such as a go
// build cache's is noise to an operator); the full error stays in Err.
func (mod *module) exitReason(err error) string {
	var exit *exec.ExitError
	var notFound *exec.Error
	var path *fs.PathError
	switch {
	case errors.As(err, &exit):
		return "process ended: " + exit.Error()
	case errors.As(err, &notFound):
		return "process did not start: " + notFound.Err.Error()
	case errors.As(err, &path):
		return "process did not start: " + path.Err.Error()
	case err != nil:
		return err.Error()
	case mod.cfg.Process != nil:
		return "process exited with status 0"
	}
	return "exited"
}

// signal hands s to the controller; it waits while the controller is
// busy writing, which the event hook's goroutine may do.
func (mod *module) signal(s sig) { mod.in <- s }

// call runs an operator request on the controller and waits for it.
func (mod *module) call(ctx context.Context, k sigKind) error {
	s := sig{kind: k, reply: make(chan error, 1)}
	select {
	case mod.in <- s:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func timerC(t clock.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C()
}

// control is the module's controller: it turns health signals into
// handovers, until ctx is cancelled.
func (mod *module) control(ctx context.Context) {
	defer func() {
		for _, w := range mod.waiters {
			w <- ErrNotRunning
		}
		mod.waiters = nil
		mod.stopStable()
		if mod.retryT != nil {
			mod.retryT.Stop()
			mod.retryT = nil
		}
	}()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case s := <-mod.in:
					if s.reply != nil {
						s.reply <- ErrNotRunning
					}
				default:
					return
				}
			}
		case s := <-mod.in:
			mod.handle(ctx, s)
		case end := <-timerC(mod.stableT):
			// end is when the stable period ended: the handover is dated
			// by it, not by when this loop got round to it.
			mod.stableT = nil
			mod.mu.Lock()
			ok := mod.healthyLocked() && mod.eligibleLocked()
			if ok && !mod.beatFreshLocked() {
				// The heartbeat stopped and the watchdog has not said so
				// yet: no control for a module that may hang. The stable
				// period starts over; a missed heartbeat ends it.
				ok = false
				mod.healthySince = end
				mod.stableT = mod.m.clk.NewTimer(mod.cfg.FailSafe.HandBack.stable() - mod.m.clk.Now().Sub(end))
			}
			mod.mu.Unlock()
			if ok {
				mod.startWrite(ctx, KindHandBack, fmt.Sprintf("healthy for %v", mod.cfg.FailSafe.HandBack.stable()), false, end)
			}
		case <-timerC(mod.retryT):
			mod.retryT = nil
			if mod.pending == KindHandBack && !mod.healthy() {
				mod.abandon("module no longer healthy")
				continue
			}
			mod.attempt(ctx)
		}
	}
}

func (mod *module) handle(ctx context.Context, s sig) {
	now := mod.m.clk.Now()
	switch s.kind {
	case sigUp:
		mod.mu.Lock()
		mod.running, mod.beat, mod.down = true, false, false
		mod.ready = mod.cfg.Readiness == nil
		mod.starts++
		mod.notifyLocked()
		mod.mu.Unlock()
	case sigBeat:
		mod.mu.Lock()
		mod.beat = true
		mod.mu.Unlock()
	case sigReady, sigNotReady:
		mod.mu.Lock()
		mod.ready = s.kind == sigReady
		mod.mu.Unlock()
	case sigDown:
		mod.mu.Lock()
		already := mod.down
		mod.down = true
		if !already {
			mod.lastFailure = &Failure{Time: now, Reason: s.reason}
		}
		mod.mu.Unlock()
		if !already { // one handover per failure of a run
			mod.m.log.Warn("module unhealthy", zap.String("module", mod.name), zap.String("reason", s.reason))
			mod.emit(Event{Kind: EventUnhealthy, Reason: s.reason})
			mod.failSafeNow(ctx, s.reason)
		}
		if s.reply != nil {
			if mod.pending == KindFailSafe {
				mod.waiters = append(mod.waiters, s.reply) // answered when the plan is verified
			} else {
				s.reply <- nil
			}
		}
		if already {
			return
		}
	case sigFailed:
		mod.mu.Lock()
		mod.failed, mod.running = true, false
		reason := "restart intensity exceeded"
		if esc := (*supervise.EscalationError)(nil); errors.As(s.err, &esc) {
			reason = fmt.Sprintf("more than %d restarts in %v, the last after: %s", esc.Restarts, esc.Period, mod.exitReason(esc.Err))
		} else if s.err != nil {
			reason = s.err.Error()
		}
		mod.lastFailure = &Failure{Time: now, Reason: reason}
		mod.mu.Unlock()
		mod.m.log.Error("module declared failed; it stays down until reset", zap.String("module", mod.name), zap.Error(s.err))
		mod.setState(StateFailed)
		mod.emit(Event{Kind: EventFailed, Reason: reason})
		if !mod.held && mod.pending != KindFailSafe {
			mod.failSafeNow(ctx, reason)
		}
	case sigReset:
		mod.mu.Lock()
		wasFailed := mod.failed
		mod.failed = false
		mod.mu.Unlock()
		if wasFailed {
			next := StateFailSafe
			if mod.pending == KindFailSafe {
				next = StateHandingOver
			}
			mod.setState(next)
		}
		mod.m.log.Info("module reset by operator", zap.String("module", mod.name))
		mod.emit(Event{Kind: EventReset})
		s.reply <- nil
		return
	case sigHandBack:
		if !mod.healthy() {
			s.reply <- fmt.Errorf("%w: %s", ErrNotHealthy, mod.name)
			return
		}
		if mod.pending == KindFailSafe {
			// The plant is not safe yet: control goes back only from a
			// verified fail-safe state.
			s.reply <- fmt.Errorf("%w: %s: fail-safe plan not yet verified (attempt %d)", ErrNotHealthy, mod.name, mod.attempts)
			return
		}
		mod.stopStable()
		if mod.retryT != nil {
			mod.retryT.Stop()
			mod.retryT = nil
		}
		s.reply <- mod.startWrite(ctx, KindHandBack, "operator", true, mod.m.clk.Now())
		return
	}
	mod.reevaluate()
}

// healthy reports whether the module may have control.
func (mod *module) healthy() bool {
	mod.mu.Lock()
	defer mod.mu.Unlock()
	return mod.healthyLocked()
}

func (mod *module) healthyLocked() bool {
	return mod.running && !mod.down && !mod.failed && mod.ready && (mod.beat || mod.cfg.Heartbeat == nil)
}

// beatFreshLocked reports whether the module's last heartbeat (if it has
// one) is within its timeout, so an automatic hand-back never goes to a
// module whose heartbeat stopped in the last watchdog interval. Called
// with mu held.
func (mod *module) beatFreshLocked() bool {
	h := mod.cfg.Heartbeat
	return h == nil || mod.m.clk.Now().Sub(mod.hb.LastBeat) <= h.timeout()
}

// eligible: the plant is on the PLC's own control and waits for the
// module. Called with mu held.
func (mod *module) eligibleLocked() bool {
	return (mod.state == StateStarting || mod.state == StateFailSafe) && mod.pending == "" && !mod.cfg.FailSafe.HandBack.ManualOnly
}

// reevaluate starts or stops the stable-period timer after a change. The
// timer is made under mu, so whoever sees the module healthy in its
// status knows the stable period is running; healthySince is read from
// the clock at the same moment, so the period runs from it exactly.
func (mod *module) reevaluate() {
	mod.mu.Lock()
	defer mod.mu.Unlock()
	now := mod.m.clk.Now()
	h := mod.healthyLocked()
	switch {
	case !h:
		mod.healthySince = time.Time{}
		mod.stopStable()
	case mod.healthySince.IsZero():
		mod.healthySince = now
	}
	if h && mod.stableT == nil && mod.eligibleLocked() {
		mod.stableT = mod.m.clk.NewTimer(mod.cfg.FailSafe.HandBack.stable())
	}
}

func (mod *module) stopStable() {
	if mod.stableT != nil {
		mod.stableT.Stop()
		mod.stableT = nil
	}
}

// failSafeNow starts writing the fail-safe plan, or keeps the one that is
// being retried going.
func (mod *module) failSafeNow(ctx context.Context, reason string) {
	mod.stopStable()
	if mod.pending == KindFailSafe {
		return // retrying already; the next attempt comes on its timer
	}
	if mod.retryT != nil { // a hand-back being retried gives way
		mod.retryT.Stop()
		mod.retryT = nil
		mod.abandon("module failed again")
	}
	_ = mod.startWrite(ctx, KindFailSafe, reason, false, mod.m.clk.Now())
}

// startWrite records a handover of kind, detected at the given time, and
// makes its first attempt.
func (mod *module) startWrite(ctx context.Context, kind, reason string, manual bool, detected time.Time) error {
	mod.mu.Lock()
	mod.handovers = append(mod.handovers, Handover{Module: mod.name, Kind: kind, Reason: reason, DetectedAt: detected, Manual: manual})
	if n := len(mod.handovers); n > maxHandovers {
		mod.handovers = slices.Delete(mod.handovers, 0, n-maxHandovers)
	}
	failed := mod.failed
	mod.mu.Unlock()
	mod.setPending(kind)
	mod.attempts = 0
	if kind == KindFailSafe {
		mod.held = false
		if !failed {
			mod.setState(StateHandingOver)
		}
	}
	return mod.attempt(ctx)
}

// attempt writes the pending plan once; on failure it raises the alarm
// and schedules the next attempt.
func (mod *module) attempt(ctx context.Context) error {
	kind := mod.pending
	plan := mod.failSafe
	if kind == KindHandBack {
		plan = mod.handBack
	}
	err := mod.writeAll(ctx, plan)
	if ctx.Err() != nil {
		return err
	}
	mod.attempts++
	now := mod.m.clk.Now()
	mod.mu.Lock()
	h := &mod.handovers[len(mod.handovers)-1]
	h.Attempts = mod.attempts
	if err != nil {
		h.LastError = err.Error()
	} else {
		h.CompletedAt = now
	}
	rec := *h
	alarmWas := mod.alarm
	if err != nil {
		mod.alarm = err.Error()
	} else {
		mod.alarm = ""
	}
	failed := mod.failed
	mod.mu.Unlock()

	if err != nil {
		mod.m.metrics.writeFailures.WithLabelValues(mod.name).Inc()
		mod.m.metrics.alarm.WithLabelValues(mod.name).Set(1)
		if alarmWas == "" {
			mod.m.log.Error("ALARM: write of the "+kind+" plan failed; retrying", zap.String("module", mod.name), zap.Error(err))
			mod.emit(Event{Kind: EventAlarm, Reason: kind + " write failed", Error: err.Error(), Handover: &rec})
		}
		delay := backoff.Delay(mod.cfg.FailSafe.Retry, mod.attempts-1, rand.Float64())
		mod.retryT = mod.m.clk.NewTimer(delay)
		return err
	}
	mod.setPending("")
	if alarmWas != "" {
		mod.m.metrics.alarm.WithLabelValues(mod.name).Set(0)
		mod.m.log.Info("alarm cleared: write succeeded", zap.String("module", mod.name), zap.Int("attempts", mod.attempts))
		mod.emit(Event{Kind: EventAlarmCleared, Reason: kind + " written", Handover: &rec})
	}
	mod.m.metrics.handovers.WithLabelValues(mod.name, kind).Inc()
	if kind == KindFailSafe {
		mod.held = true
		for _, w := range mod.waiters {
			w <- nil
		}
		mod.waiters = nil
		mod.m.metrics.latency.WithLabelValues(mod.name).Observe(rec.CompletedAt.Sub(rec.DetectedAt).Seconds())
		mod.m.log.Warn("fail-safe written and verified; the PLC has control", zap.String("module", mod.name),
			zap.String("reason", rec.Reason), zap.Int("attempts", rec.Attempts))
		if !failed {
			mod.setState(StateFailSafe)
		}
		mod.emit(Event{Kind: EventHandover, Reason: rec.Reason, Handover: &rec})
		mod.reevaluate()
	} else {
		mod.held = false
		mod.m.log.Info("control handed back to the module", zap.String("module", mod.name), zap.String("reason", rec.Reason))
		mod.setState(StateInControl)
		mod.emit(Event{Kind: EventHandBack, Reason: rec.Reason, Handover: &rec})
	}
	return nil
}

// abandon gives up a pending hand-back.
func (mod *module) abandon(why string) {
	mod.setPending("")
	mod.mu.Lock()
	h := &mod.handovers[len(mod.handovers)-1]
	h.LastError = "abandoned: " + why
	mod.mu.Unlock()
}

// writeAll writes a plan, every tag even when one fails.
func (mod *module) writeAll(ctx context.Context, plan []tagWrite) error {
	ctx = plc.WithPrincipal(ctx, plc.Principal{Who: "ai-monitor/" + mod.name})
	var errs []error
	for _, w := range plan {
		if err := mod.m.writer.WriteValue(ctx, w.tag, w.v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setPending records the plan being written; runs wait while it is the
// fail-safe plan.
func (mod *module) setPending(kind string) {
	mod.pending = kind
	mod.mu.Lock()
	mod.safePending = kind == KindFailSafe
	mod.notifyLocked()
	mod.mu.Unlock()
}

func (mod *module) notifyLocked() {
	close(mod.changed)
	mod.changed = make(chan struct{})
}

func (mod *module) setState(s State) {
	mod.mu.Lock()
	old := mod.state
	mod.state = s
	mod.mu.Unlock()
	if old != s {
		mod.m.metrics.setState(mod.name, s)
	}
}

func (mod *module) emit(e Event) {
	e.Time = mod.m.clk.Now()
	e.Module = mod.name
	mod.mu.Lock()
	e.State = mod.state
	mod.mu.Unlock()
	if fn := mod.m.o.onEvent; fn != nil {
		fn(e)
	}
	mod.m.pub.publish(e)
}

func (mod *module) status() ModuleStatus {
	mod.mu.Lock()
	defer mod.mu.Unlock()
	s := ModuleStatus{
		Name: mod.name, State: mod.state, Healthy: mod.healthyLocked(), HealthySince: mod.healthySince,
		Running: mod.running, Ready: mod.ready, Starts: mod.starts, Alarm: mod.alarm != "", AlarmError: mod.alarm,
		ManualOnly: mod.cfg.FailSafe.HandBack.ManualOnly,
	}
	if p := mod.proc.Load(); p != nil && mod.running {
		s.PID = p.PID()
	}
	if mod.lastFailure != nil {
		f := *mod.lastFailure
		s.LastFailure = &f
	}
	if mod.cfg.Heartbeat != nil {
		hb := mod.hb
		s.Heartbeat = &hb
	}
	if mod.cfg.Envelope != nil {
		env := mod.env
		s.Envelope = &env
	}
	if n := len(mod.handovers); n > 0 {
		h := mod.handovers[n-1]
		s.LastHandover = &h
	}
	return s
}

// run is one start of a module: its program (or, for a service, nothing
// but waiting) and its heartbeat and envelope watches. The first to fail
// ends the run.
type run struct {
	mod  *module
	n    int64 // the run's number: its start is the controller's n-th
	main supervise.Service
	// started is when the program started (UnixNano on the monitor's
	// clock), 0 while the run holds it back.
	started atomic.Int64
}

// excused reports whether a liveness failure now is not the module's
// doing: the run is holding it back, or its program started less than
// delay ago.
func (r *run) excused(delay time.Duration) bool {
	st := r.started.Load()
	return st == 0 || r.mod.m.clk.Now().Sub(time.Unix(0, st)) < delay
}

func (mod *module) newRun() (supervise.Service, error) {
	r := &run{mod: mod}
	if p := mod.cfg.Process; p != nil {
		proc, err := supervise.NewProcess(*p)
		if err != nil {
			return nil, err
		}
		mod.proc.Store(proc)
		r.main = proc
	} else {
		r.main = supervise.ServiceFunc(func(ctx context.Context) error { <-ctx.Done(); return nil })
	}
	r.n = mod.runs.Add(1)
	return r, nil
}

// watchdogFeed ticks at half the heartbeat timeout, for a run that waits
// through no fault of the module's and keeps its watchdog fed; nil
// without a heartbeat. stop releases the ticker.
func (r *run) watchdogFeed() (feed <-chan time.Time, stop func()) {
	h := r.mod.cfg.Heartbeat
	if h == nil {
		return nil, func() {}
	}
	t := r.mod.m.clk.NewTicker(h.timeout() / 2)
	return t.C(), t.Stop
}

// awaitSafe holds a run back until the controller has seen it start (so
// every failure reported before, a missed heartbeat say, is handled) and
// no fail-safe plan is being written: a module never starts against a
// plant that is not yet safe. It keeps the watchdog fed meanwhile; false
// when ctx ended first.
func (r *run) awaitSafe(ctx context.Context) bool {
	feed, stop := r.watchdogFeed()
	defer stop()
	for {
		r.mod.mu.Lock()
		ok := r.mod.starts >= int(r.n) && !r.mod.safePending
		ch := r.mod.changed
		r.mod.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-feed:
			supervise.Beat(ctx)
		case <-ctx.Done():
			return false
		}
	}
}

func (r *run) Serve(parent context.Context) error {
	if !r.awaitSafe(parent) {
		return nil
	}
	r.started.Store(r.mod.m.clk.Now().UnixNano())
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	errc := make(chan error, 3)
	n := 0
	start := func(f func(context.Context) error) {
		n++
		go func() { errc <- f(ctx) }()
	}
	start(r.main.Serve)
	if r.mod.cfg.Heartbeat != nil {
		start(r.watchHeartbeat)
	}
	if r.mod.cfg.Envelope != nil {
		start(r.watchEnvelope)
	}
	err := <-errc
	cancel()
	r.started.Store(0) // held again until the plan is verified
	if parent.Err() == nil {
		// The module failed by itself (its program ended, a watch
		// failed): the controller makes the plant safe before this run
		// returns, so the supervisor restarts the module only once its
		// fail-safe plan is verified in the PLC, and the new instance
		// starts against a safe plant. The program stops meanwhile. The
		// wait is not the module's fault: it keeps the watchdog fed.
		s := sig{kind: sigDown, reason: r.mod.exitReason(err), err: err, reply: make(chan error, 1)}
		feed, stop := r.watchdogFeed()
		defer stop()
		select {
		case r.mod.in <- s:
		wait:
			for {
				select {
				case <-s.reply:
					break wait
				case <-feed:
					supervise.Beat(parent)
				case <-parent.Done():
					break wait
				}
			}
		case <-parent.Done():
		}
	}
	for range n - 1 {
		<-errc
	}
	return err
}

// beat feeds the watchdog and tells the controller of the run's first
// heartbeat.
func (r *run) beat(ctx context.Context, first *bool) {
	supervise.Beat(ctx)
	mod := r.mod
	mod.mu.Lock()
	mod.hb.LastBeat = mod.m.clk.Now()
	mod.mu.Unlock()
	if *first {
		*first = false
		mod.signal(sig{kind: sigBeat})
	}
}

func (r *run) checked(w *WatchStatus) {
	r.mod.mu.Lock()
	w.LastCheck = r.mod.m.clk.Now()
	r.mod.mu.Unlock()
}

func (r *run) watchHeartbeat(ctx context.Context) error {
	mod := r.mod
	h := mod.cfg.Heartbeat
	first := true
	switch h.Source {
	case SourceTopic:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-mod.topicBeat:
				r.checked(&mod.hb)
				r.beat(ctx, &first)
			}
		}
	case SourceHTTP:
		u := heartbeatURL(mod.cfg)
		t := mod.m.clk.NewTicker(h.period())
		defer t.Stop()
		for tick(ctx, t) {
			pctx, cancel := context.WithTimeout(ctx, h.period())
			err := probeHTTP(pctx, u, h.ExpectStatus)
			cancel()
			r.checked(&mod.hb)
			if err == nil {
				r.beat(ctx, &first)
			}
		}
		return nil
	}
	tag, _ := mod.m.db.Tag(h.Tag)
	rd, err := r.reader([]plc.Tag{*tag})
	if err != nil {
		return err
	}
	buf := make([]plc.Sample, 1)
	var last plc.Value
	t := mod.m.clk.NewTicker(h.period())
	defer t.Stop()
	for tick(ctx, t) {
		readOnce(ctx, rd, buf)
		if ctx.Err() != nil {
			return nil
		}
		r.checked(&mod.hb)
		s := buf[0]
		switch {
		case !s.Quality.IsGood():
			// The PLC is unreachable: the module cannot be judged by a
			// tag nobody can read, so it is not blamed for the outage.
			supervise.Beat(ctx)
		case last.IsValid() && !s.Value.Equal(last):
			r.beat(ctx, &first)
		}
		if s.Quality.IsGood() {
			last = s.Value
		}
	}
	return nil
}

func (r *run) watchEnvelope(ctx context.Context) error {
	mod := r.mod
	env := mod.cfg.Envelope
	tags := make([]plc.Tag, len(env.Limits))
	for i, l := range env.Limits {
		t, _ := mod.m.db.Tag(l.Tag)
		tags[i] = *t
	}
	rd, err := r.reader(tags)
	if err != nil {
		return err
	}
	buf := make([]plc.Sample, len(tags))
	t := mod.m.clk.NewTicker(env.period())
	defer t.Stop()
	for tick(ctx, t) {
		readOnce(ctx, rd, buf)
		if ctx.Err() != nil {
			return nil
		}
		r.checked(&mod.env)
		for i, s := range buf {
			if !s.Quality.IsGood() {
				continue
			}
			l := env.Limits[i]
			v := tags[i].ToEngineering(s.Value).Float()
			if l.Min != nil && v < *l.Min || l.Max != nil && v > *l.Max {
				return &EnvelopeError{Tag: l.Tag, Value: v, Min: l.Min, Max: l.Max}
			}
		}
	}
	return nil
}

// tick waits for t's next tick and reports whether it came before ctx
// ended.
func tick(ctx context.Context, t clock.Ticker) bool {
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// readOnce reads without cancelling the request when ctx ends: the
// driver is shared with the fail-safe writes, and a request given up
// half-way costs the connection (the answer would arrive out of step).
func readOnce(ctx context.Context, rd plc.Reader, buf []plc.Sample) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = rd.Read(rctx, buf)
}

// reader prepares a read of tags, which must all be on one device.
func (r *run) reader(tags []plc.Tag) (plc.Reader, error) {
	byDev := map[string][]int{}
	for i, t := range tags {
		byDev[t.Device] = append(byDev[t.Device], i)
	}
	if len(byDev) == 1 {
		d := r.mod.m.drivers[tags[0].Device]
		if d == nil {
			return nil, fmt.Errorf("monitor: no driver for device %q", tags[0].Device)
		}
		return d.Prepare(tags)
	}
	mr := &multiReader{n: len(tags)}
	for dev, idx := range byDev {
		d := r.mod.m.drivers[dev]
		if d == nil {
			return nil, fmt.Errorf("monitor: no driver for device %q", dev)
		}
		sub := make([]plc.Tag, len(idx))
		for j, i := range idx {
			sub[j] = tags[i]
		}
		rd, err := d.Prepare(sub)
		if err != nil {
			return nil, err
		}
		mr.parts = append(mr.parts, part{rd, idx, make([]plc.Sample, len(idx))})
	}
	return mr, nil
}

type part struct {
	rd  plc.Reader
	idx []int
	buf []plc.Sample
}

// multiReader reads tags spread over several devices.
type multiReader struct {
	n     int
	parts []part
}

func (m *multiReader) Read(ctx context.Context, out []plc.Sample) error {
	var errs []error
	for _, p := range m.parts {
		if err := p.rd.Read(ctx, p.buf); err != nil {
			errs = append(errs, err)
		}
		for j, i := range p.idx {
			out[i] = p.buf[j]
		}
	}
	return errors.Join(errs...)
}
