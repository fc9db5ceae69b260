package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
)

var (
	// ErrFenced refuses a write of a node that does not hold the lease,
	// or cannot prove it does right now. The write never reached the PLC.
	ErrFenced = errors.New("ha: write fenced: this node does not hold the lease")
	// ErrServing is returned by a second Serve.
	ErrServing = errors.New("ha: already serving")
	// ErrNotActive is returned by Resign on a node that is not active.
	ErrNotActive = errors.New("ha: not the active node")
)

// handoverMark in the counter word, with holder 0, says the lease was
// given up on purpose: the other node takes it at once.
const handoverMark = 0xFFFF_FFFF

// Lease is the lease as read from the PLC.
type Lease struct {
	Holder, Epoch, Counter uint32
}

// Event tells of a role change.
type Event struct {
	Time     time.Time
	From, To Role
	// Epoch is the lease epoch after the change; Holder the node that
	// holds the lease as this node last read it.
	Epoch, Holder uint32
	Cause         string
}

// Status is what a node knows of the pair.
type Status struct {
	NodeID uint32 `json:"node_id"`
	Role   Role   `json:"role"`
	// Lease is the lease as last read from the PLC, at LeaseRead.
	Lease     Lease     `json:"lease"`
	LeaseRead time.Time `json:"lease_read,omitzero"`
	// Confirmed is when the active's lease was last confirmed (the send
	// time of the renewal read back); writes stop FailoverTimeout*3/4
	// after it.
	Confirmed time.Time `json:"confirmed,omitzero"`
	// LastFailover is the last time this node became active, and Cause
	// why its role last changed.
	LastFailover time.Time `json:"last_failover,omitzero"`
	Cause        string    `json:"cause,omitempty"`
	// LeaseError is the last failure to read or write the lease.
	LeaseError string `json:"lease_error,omitempty"`
}

// Option sets a code-only setting of New.
type Option func(*Elector)

// WithClock sets the clock (a monotonic one in production: time.Now's
// monotonic reading keeps running while the process is stopped, so a
// node resumed after SIGSTOP finds its lease expired).
func WithClock(c clock.Clock) Option { return func(e *Elector) { e.clk = c } }

// WithLogger logs role changes and lease failures.
func WithLogger(l *zap.Logger) Option { return func(e *Elector) { e.log = l } }

// WithEvents calls fn on every role change, outside the elector's locks.
func WithEvents(fn func(Event)) Option { return func(e *Elector) { e.events = fn } }

// Elector holds or watches the lease for one node of an HA pair and
// fences the node's writes. Make one with New; run Serve.
type Elector struct {
	cfg    Config
	t      time.Duration
	drv    plc.Driver
	tags   []plc.Tag
	rd     plc.Reader
	clk    clock.Clock
	log    *zap.Logger
	events func(Event)

	serveMu sync.Mutex
	serving bool

	mu         sync.Mutex
	role       Role
	epoch      uint32    // own epoch while claiming or active
	confirmed  time.Time // send time of the last renewal read back
	renewSent  time.Time // send time of the last renewal attempt
	claimSent  time.Time
	observed   Lease
	seen       bool
	changed    time.Time // when the standby last saw the lease change
	holdOff    time.Time // no claim before this (after Resign)
	lease      Lease
	leaseRead  time.Time
	leaseErr   string
	lastActive time.Time
	cause      string
	pending    []Event

	failovers prometheus.Counter
	fenced    prometheus.Counter
}

// New makes an elector whose lease lives in drv (the raw driver of
// cfg.Lease.Device; the elector's own writes to the lease are not
// fenced).
func New(cfg Config, drv plc.Driver, opts ...Option) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Elector{cfg: cfg, t: cfg.Timeout(), drv: drv, clk: clock.Real, log: zap.NewNop(), role: RoleStandby,
		failovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_ha_failovers_total", Help: "Times this node became the active node."}),
		fenced:    prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_ha_fenced_writes_total", Help: "PLC writes refused because this node did not hold the lease."}),
	}
	for _, o := range opts {
		o(e)
	}
	e.clk = clock.Or(e.clk)
	for _, a := range []string{cfg.Lease.Holder, cfg.Lease.Epoch, cfg.Lease.Counter} {
		e.tags = append(e.tags, plc.Tag{Name: "ha.lease." + a, Device: cfg.Lease.Device, Address: a, Type: plc.DataType{Kind: plc.UDInt}, Access: plc.ReadWrite})
	}
	rd, err := drv.Prepare(e.tags)
	if err != nil {
		return nil, err
	}
	e.rd = rd
	return e, nil
}

// Role returns the node's role now.
func (e *Elector) Role() Role {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.role
}

// Status returns what the node knows of the pair.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{NodeID: e.cfg.NodeID, Role: e.role, Lease: e.lease, LeaseRead: e.leaseRead, Confirmed: e.confirmed,
		LastFailover: e.lastActive, Cause: e.cause, LeaseError: e.leaseErr}
}

func (e *Elector) poll() time.Duration  { return e.t / 8 }
func (e *Elector) renew() time.Duration { return e.t / 4 }

// writable is how long after a confirmed renewal the active may write:
// the standby takes over a full timeout after it last saw the lease
// change, which is after the renewal was sent; the quarter left covers
// the write's own way to the PLC.
func (e *Elector) writable() time.Duration { return e.t - e.t/4 }

// Serve holds or watches the lease until ctx is done. A node that is
// active when ctx ends stops writing at once (its lease runs out on its
// own; the standby takes over a failover timeout later).
func (e *Elector) Serve(ctx context.Context) error {
	e.serveMu.Lock()
	if e.serving {
		e.serveMu.Unlock()
		return ErrServing
	}
	e.serving = true
	e.serveMu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.role != RoleStandby {
			e.setRole(RoleStandby, "stopped")
		}
		ev := e.takeEvents()
		e.mu.Unlock()
		e.emit(ev)
	}()
	t := e.clk.NewTicker(e.poll())
	defer t.Stop()
	for {
		e.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// step reads the lease and acts on it once.
func (e *Elector) step(ctx context.Context) {
	l, err := e.read(ctx)
	now := e.clk.Now()
	e.mu.Lock()
	if err != nil {
		e.leaseErr = err.Error()
		e.mu.Unlock()
		e.log.Warn("ha: cannot read the lease", zap.Error(err))
		return
	}
	e.leaseErr = ""
	e.lease, e.leaseRead = l, now
	if !e.seen || l != e.observed {
		e.observed, e.changed, e.seen = l, now, true
	}
	var write []uint32 // holder, epoch, counter to write, nil for none
	switch e.role {
	case RoleActive:
		switch {
		case l.Holder != e.cfg.NodeID || l.Epoch != e.epoch:
			e.setRole(RoleStandby, fmt.Sprintf("lease taken by node %d in epoch %d", l.Holder, l.Epoch))
		case now.Sub(e.renewSent) >= e.renew():
			e.renewSent = now
			write = []uint32{e.cfg.NodeID, e.epoch, l.Counter + 1}
		}
	case RoleClaiming:
		switch {
		case l.Holder != e.cfg.NodeID || l.Epoch != e.epoch:
			e.setRole(RoleStandby, fmt.Sprintf("node %d claimed the lease in epoch %d first", l.Holder, l.Epoch))
		case now.Sub(e.claimSent) >= e.renew():
			// The claim held for a quarter timeout: a rival's write would
			// have landed by now. Take the lease and renew it at once.
			e.confirmed = e.claimSent
			e.lastActive = now
			e.failovers.Inc()
			e.setRole(RoleActive, e.cause)
			e.renewSent = now
			write = []uint32{e.cfg.NodeID, e.epoch, l.Counter + 1}
		}
	case RoleStandby:
		if cause, ok := e.claimableLocked(l, now); ok {
			e.epoch = l.Epoch + 1
			e.claimSent = now
			e.cause = cause
			e.setRole(RoleClaiming, cause)
			write = []uint32{e.cfg.NodeID, e.epoch, 0}
		}
	}
	role, epoch := e.role, e.epoch
	ev := e.takeEvents()
	e.mu.Unlock()
	e.emit(ev)
	if write == nil {
		return
	}
	sent := now
	if err := e.write(ctx, write, role == RoleActive); err != nil { // a renewal writes the counter only
		e.mu.Lock()
		e.leaseErr = err.Error()
		e.mu.Unlock()
		e.log.Warn("ha: cannot write the lease", zap.String("role", string(role)), zap.Error(err))
		return
	}
	if role != RoleActive {
		return
	}
	// A renewal counts once read back: the PLC holds it.
	back, err := e.read(ctx)
	e.mu.Lock()
	switch {
	case err != nil:
		e.leaseErr = err.Error()
	case back.Holder == e.cfg.NodeID && back.Epoch == epoch && back.Counter == write[2]:
		if e.role == RoleActive && e.epoch == epoch {
			e.confirmed = sent
		}
	default:
		if e.role == RoleActive {
			e.setRole(RoleStandby, fmt.Sprintf("lease taken by node %d in epoch %d", back.Holder, back.Epoch))
		}
	}
	ev = e.takeEvents()
	e.mu.Unlock()
	e.emit(ev)
}

// claimableLocked says whether a standby may claim lease l now, and why.
func (e *Elector) claimableLocked(l Lease, now time.Time) (string, bool) {
	if now.Before(e.holdOff) {
		return "", false
	}
	quiet := now.Sub(e.changed)
	switch {
	case l.Holder == 0 && l.Counter == handoverMark:
		return "switchover requested by the active node", true
	case l.Holder == 0 && e.cfg.PreferredRole == RoleActive:
		return "free lease taken by the preferred node", true
	case l.Holder == 0 && quiet >= e.t:
		return "free lease left by the preferred node", true
	case l.Holder == e.cfg.NodeID && quiet >= e.t:
		return "own lease from an earlier run expired", true
	case l.Holder != 0 && quiet >= e.t:
		return fmt.Sprintf("lease of node %d not renewed for %s", l.Holder, quiet.Round(time.Millisecond)), true
	}
	return "", false
}

func (e *Elector) setRole(r Role, cause string) {
	if e.role == r {
		return
	}
	e.pending = append(e.pending, Event{Time: e.clk.Now(), From: e.role, To: r, Epoch: e.epoch, Holder: e.lease.Holder, Cause: cause})
	e.log.Info("ha: role changed", zap.String("from", string(e.role)), zap.String("to", string(r)), zap.Uint32("epoch", e.epoch), zap.String("cause", cause))
	e.role, e.cause = r, cause
	if r != RoleActive {
		e.confirmed = time.Time{}
	}
}

func (e *Elector) takeEvents() []Event {
	ev := e.pending
	e.pending = nil
	return ev
}

func (e *Elector) emit(ev []Event) {
	if e.events == nil {
		return
	}
	for _, x := range ev {
		e.events(x)
	}
}

// read reads the lease, bounded by a quarter timeout.
func (e *Elector) read(ctx context.Context) (Lease, error) {
	rctx, cancel := context.WithTimeout(ctx, e.renew())
	defer cancel()
	buf := make([]plc.Sample, 3)
	if err := e.rd.Read(rctx, buf); err != nil {
		return Lease{}, fmt.Errorf("ha: reading the lease: %w", err)
	}
	var w [3]uint32
	for i, s := range buf {
		if !s.Quality.IsGood() {
			return Lease{}, fmt.Errorf("ha: reading the lease word %s: %s", e.tags[i].Address, s.Quality)
		}
		u, _ := s.Value.Uint()
		w[i] = uint32(u)
	}
	return Lease{Holder: w[0], Epoch: w[1], Counter: w[2]}, nil
}

// write writes the lease words: all three, or only the counter when
// counterOnly.
func (e *Elector) write(ctx context.Context, words []uint32, counterOnly bool) error {
	wctx, cancel := context.WithTimeout(ctx, e.renew())
	defer cancel()
	var items []plc.WriteItem
	for i, w := range words {
		if counterOnly && i < 2 {
			continue
		}
		items = append(items, plc.WriteItem{Tag: e.tags[i], Value: plc.UintValue(plc.UDInt, uint64(w))})
	}
	for i, err := range e.drv.Write(wctx, items) {
		if err != nil {
			return fmt.Errorf("ha: writing the lease word %s: %w", items[i].Tag.Address, err)
		}
	}
	return nil
}

// Check returns nil when this node may write to the PLC now: it is
// active, its lease was confirmed less than three quarters of a timeout
// ago, and the lease read from the PLC right now still names it in its
// epoch. Otherwise it returns an error matching ErrFenced.
func (e *Elector) Check(ctx context.Context) error {
	e.mu.Lock()
	role, epoch, confirmed := e.role, e.epoch, e.confirmed
	e.mu.Unlock()
	start := e.clk.Now()
	if role != RoleActive {
		return e.refuse("this node is " + string(role))
	}
	if age := start.Sub(confirmed); age >= e.writable() {
		return e.refuse(fmt.Sprintf("lease unconfirmed for %s", age.Round(time.Millisecond)))
	}
	l, err := e.read(ctx)
	if err != nil {
		return e.refuse(err.Error())
	}
	if l.Holder != e.cfg.NodeID || l.Epoch != epoch {
		e.mu.Lock()
		if e.role == RoleActive && e.epoch == epoch {
			e.setRole(RoleStandby, fmt.Sprintf("lease taken by node %d in epoch %d", l.Holder, l.Epoch))
		}
		ev := e.takeEvents()
		e.mu.Unlock()
		e.emit(ev)
		return e.refuse(fmt.Sprintf("the PLC's lease names node %d in epoch %d", l.Holder, l.Epoch))
	}
	// The check itself took time: the write must still leave in time.
	if now := e.clk.Now(); now.Sub(confirmed) >= e.writable() || now.Sub(start) > e.poll() {
		return e.refuse("lease check took too long")
	}
	return nil
}

func (e *Elector) refuse(why string) error {
	e.fenced.Inc()
	return fmt.Errorf("%w (%s)", ErrFenced, why)
}

// Resign gives the lease up on purpose (an operator's switchover): the
// node becomes standby, will not claim for two failover timeouts, and
// marks the lease so the other node takes it at once.
func (e *Elector) Resign(ctx context.Context) error {
	e.mu.Lock()
	if e.role != RoleActive {
		e.mu.Unlock()
		return ErrNotActive
	}
	epoch := e.epoch
	e.holdOff = e.clk.Now().Add(2 * e.t)
	e.setRole(RoleStandby, "switchover requested")
	ev := e.takeEvents()
	e.mu.Unlock()
	e.emit(ev)
	return e.write(ctx, []uint32{0, epoch, handoverMark}, false)
}

// Fence wraps a device's driver so that every write first passes Check;
// a fenced write fails with ErrFenced and never reaches the device.
func (e *Elector) Fence(d plc.Driver) plc.Driver { return &fenced{e: e, Driver: d} }

type fenced struct {
	e *Elector
	plc.Driver
}

func (f *fenced) Write(ctx context.Context, items []plc.WriteItem) []error {
	errs := make([]error, len(items))
	if err := f.e.Check(ctx); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	return f.Driver.Write(ctx, items)
}

// Describe implements prometheus.Collector.
func (e *Elector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRole
	ch <- descEpoch
	ch <- descConfirmedAge
	e.failovers.Describe(ch)
	e.fenced.Describe(ch)
}

var (
	descRole         = prometheus.NewDesc("kiln_ha_role", "1 for this node's role (active, claiming, standby).", []string{"role"}, nil)
	descEpoch        = prometheus.NewDesc("kiln_ha_lease_epoch", "The lease epoch as last read from the PLC.", nil, nil)
	descConfirmedAge = prometheus.NewDesc("kiln_ha_lease_confirmed_age_seconds", "On the active node, the age of its last confirmed lease renewal (0 on a standby).", nil, nil)
)

// Collect implements prometheus.Collector.
func (e *Elector) Collect(ch chan<- prometheus.Metric) {
	st := e.Status()
	for _, r := range []Role{RoleActive, RoleClaiming, RoleStandby} {
		v := 0.0
		if st.Role == r {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRole, prometheus.GaugeValue, v, string(r))
	}
	ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(st.Lease.Epoch))
	age := 0.0
	if st.Role == RoleActive && !st.Confirmed.IsZero() {
		age = e.clk.Now().Sub(st.Confirmed).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descConfirmedAge, prometheus.GaugeValue, age)
	e.failovers.Collect(ch)
	e.fenced.Collect(ch)
}
