package consoletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// Device is the name of the simulated PLC in the point database.
const Device = "kiln1"

// PointDB is the kiln line's point database; %s is the PLC's endpoint.
const PointDB = `devices:
  - {name: kiln1, driver: s7, endpoint: "%s", options: {retry.initial: 50ms, retry.max: 500ms}}
groups:
  - {name: fast, rate: 100ms, full_refresh: 2s}
tags:
  - {name: Line1.Kiln.Zone1.Temp, device: kiln1, address: DB1.DBD0, type: REAL, group: fast, unit: °C, description: Zone 1 temperature}
  - {name: Line1.Kiln.Zone1.Setpoint, device: kiln1, address: DB1.DBD4, type: REAL, access: rw, group: fast, min: 0, max: 1200, unit: °C, write_role: operator, description: Zone 1 temperature setpoint}
  - {name: Line1.Kiln.Zone2.Temp, device: kiln1, address: DB1.DBD8, type: REAL, group: fast, unit: °C, description: Zone 2 temperature}
  - {name: Line1.Kiln.Zone2.Setpoint, device: kiln1, address: DB1.DBD12, type: REAL, access: rw, group: fast, min: 0, max: 1200, unit: °C, description: Zone 2 temperature setpoint (engineers)}
  - {name: Line1.Kiln.Fan.Speed, device: kiln1, address: DB1.DBW18, type: INT, access: rw, group: fast, min: 0, max: 100, unit: "%%", write_role: operator, description: Exhaust fan speed}
  - {name: Line1.Kiln.Burner.Enable, device: kiln1, address: DB1.DBX16.0, type: BOOL, access: rw, group: fast, critical: true, description: Main burner enable}
  - {name: Line1.Kiln.Running, device: kiln1, address: DB1.DBX16.1, type: BOOL, group: fast, description: Kiln running}
`

// initial is the kiln line's state when the plant starts: firing.
var initial = map[string]plc.Value{
	"Line1.Kiln.Zone1.Setpoint": plc.FloatValue(plc.Real, 850),
	"Line1.Kiln.Zone1.Temp":     plc.FloatValue(plc.Real, 846.5),
	"Line1.Kiln.Zone2.Setpoint": plc.FloatValue(plc.Real, 900),
	"Line1.Kiln.Zone2.Temp":     plc.FloatValue(plc.Real, 897.25),
	"Line1.Kiln.Fan.Speed":      plc.IntValue(plc.Int, 40),
	"Line1.Kiln.Burner.Enable":  plc.BoolValue(true),
	"Line1.Kiln.Running":        plc.BoolValue(true),
}

// Config sets up the plant. The zero value is the default plant.
type Config struct {
	// Extra adds this many read-only REAL tags Line1.Extra.Tnnnnnn (for
	// many-tag tests and benchmarks) in DB2 from offset 0, in the scan
	// group "bulk" that reports changes only.
	Extra int
	// ExtraRate is the bulk group's scan rate (default 1s).
	ExtraRate time.Duration
}

// Plant is the running simulated plant.
type Plant struct {
	// Sim is the simulated PLC; Stop and Start it to take the device
	// down and bring it back.
	Sim *s7sim.Server
	// DB is the point database.
	DB *plc.PointDB
	// Backend serves the console.
	Backend *Backend

	driver *s7.Driver
	poller *plc.Poller
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start starts the PLC, the driver and the poller; Close stops them.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Plant, error) {
	o := options{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	sim, err := s7sim.New(s7sim.Config{DBs: map[int]int{1: 4096, 2: max(4*cfg.Extra, 4)}})
	if err != nil {
		return nil, err
	}
	src := fmt.Sprintf(PointDB, sim.Addr())
	if cfg.Extra > 0 {
		rate := cfg.ExtraRate
		if rate == 0 {
			rate = time.Second
		}
		var b strings.Builder
		b.WriteString(strings.Replace(src, "groups:\n", fmt.Sprintf("groups:\n  - {name: bulk, rate: %s, full_refresh: off}\n", rate), 1))
		for i := range cfg.Extra {
			fmt.Fprintf(&b, "  - {name: Line1.Extra.T%06d, device: kiln1, address: DB2.DBD%d, type: REAL, group: bulk, unit: bar}\n", i, 4*i)
		}
		src = b.String()
	}
	db := &plc.PointDB{}
	err = db.AddYAML("plant.yaml", []byte(src))
	if err == nil {
		err = db.Validate()
	}
	if err != nil {
		_ = sim.Close()
		return nil, err
	}
	dev, _ := db.Device(Device)
	scfg, err := s7.ConfigFromDevice(*dev)
	if err != nil {
		_ = sim.Close()
		return nil, err
	}
	scfg.Endpoint = sim.Addr()
	drv, err := s7.New(scfg, s7.WithLogger(o.log.Named("s7")), s7.WithName(Device))
	if err != nil {
		_ = sim.Close()
		return nil, err
	}
	p := &Plant{Sim: sim, DB: db, driver: drv, done: make(chan struct{})}
	for tag, v := range initial {
		if err := p.Set(tag, v); err != nil {
			_ = drv.Close()
			_ = sim.Close()
			return nil, err
		}
	}
	b := &Backend{plant: p, clk: clock.Or(o.clock), history: map[string][]plc.Sample{}, down: map[string]string{}}
	p.Backend = b
	drivers := map[string]plc.Driver{Device: drv}
	p.poller, err = plc.NewPoller(db, drivers, plc.SinkFunc(b.take), plc.WithPollerLogger(o.log.Named("poller")))
	if err == nil {
		b.writer, err = plc.NewWriter(plc.WriterConfig{Verify: true}, db, drivers, plc.AuditFunc(b.writeAudit),
			plc.WithSharedTags(), plc.WithWriterClock(b.clk), plc.WithAuthorizer(authorize))
	}
	if err != nil {
		_ = drv.Close()
		_ = sim.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go func() {
		defer close(p.done)
		if err := p.poller.Serve(pctx); err != nil && !errors.Is(err, context.Canceled) {
			o.log.Error("poller stopped", zap.Error(err))
		}
	}()
	return p, nil
}

// Option sets a code-only setting of Start.
type Option func(*options)

type options struct {
	log   *zap.Logger
	clock clock.Clock
}

// WithLogger sets the logger of the driver and poller.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that stamps audit records.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// authorize is the gateway side's own role check: the console checked
// already, and a backend checks again.
func authorize(ctx context.Context, t *plc.Tag) error {
	u, ok := console.UserFrom(ctx)
	if !ok {
		return fmt.Errorf("%w: no user", console.ErrForbidden)
	}
	if u.Role.AtLeast(auth.Engineer) || (u.Role.AtLeast(auth.Operator) && t.MinWriteRole() == plc.WriteOperator) {
		return nil
	}
	return fmt.Errorf("%w: %s may not write %q", console.ErrForbidden, u.Role, t.Name)
}

// Close stops the poller, the driver and the PLC. It is idempotent.
func (p *Plant) Close() error {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		_ = p.driver.Close()
		_ = p.Sim.Close()
	})
	return nil
}

// Set sets a tag's value in the PLC's memory, as the process would.
func (p *Plant) Set(tag string, v plc.Value) error {
	t, ok := p.DB.Tag(tag)
	if !ok {
		return fmt.Errorf("consoletest: no tag %q", tag)
	}
	a, err := s7.ParseAddress(t.Address, t.Type)
	if err != nil {
		return err
	}
	raw, err := plc.Convert(v, t.Type)
	if err != nil {
		return err
	}
	return p.Sim.Store(a, raw)
}

// Get reads a tag's value from the PLC's memory.
func (p *Plant) Get(tag string) (plc.Value, error) {
	t, ok := p.DB.Tag(tag)
	if !ok {
		return plc.Value{}, fmt.Errorf("consoletest: no tag %q", tag)
	}
	a, err := s7.ParseAddress(t.Address, t.Type)
	if err != nil {
		return plc.Value{}, err
	}
	return p.Sim.Load(a)
}

// Simulate moves the kiln's temperatures toward their setpoints with a
// little noise, every step, until ctx ends, as a demo plant.
func (p *Plant) Simulate(ctx context.Context, step time.Duration) {
	tick := time.NewTicker(step)
	defer tick.Stop()
	n := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		for _, z := range []string{"Zone1", "Zone2"} {
			sp, err1 := p.Get("Line1.Kiln." + z + ".Setpoint")
			pv, err2 := p.Get("Line1.Kiln." + z + ".Temp")
			if err1 != nil || err2 != nil {
				continue
			}
			next := pv.Float() + (sp.Float()-pv.Float())*0.05 + math.Sin(n/7)*0.3
			_ = p.Set("Line1.Kiln."+z+".Temp", plc.FloatValue(plc.Real, next))
		}
	}
}

// Backend is a console.Backend over the plant: the point database, the
// poller's latest values, history kept in memory, the Writer, and an
// audit trail in memory.
type Backend struct {
	plant  *Plant
	writer *plc.Writer
	clk    clock.Clock
	hub    console.Hub

	mu      sync.Mutex
	history map[string][]plc.Sample
	audit   []console.AuditEntry
	down    map[string]string // device → why
}

// AddHistory adds samples (oldest first, later than those held) to the
// history, as if the poller had reported them; for tests and benchmarks of
// long trends.
func (b *Backend) AddHistory(ss []plc.Sample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range ss {
		b.history[s.Tag] = append(b.history[s.Tag], s)
	}
}

// maxHistory bounds the samples kept per tag.
const maxHistory = 200000

// take is the poller's sink: history, device state, then the watchers.
func (b *Backend) take(ctx context.Context, ss []plc.Sample) error {
	b.mu.Lock()
	for _, s := range ss {
		h := append(b.history[s.Tag], s)
		if len(h) > maxHistory {
			h = slices.Delete(h, 0, len(h)-maxHistory)
		}
		b.history[s.Tag] = h
		if t, ok := b.plant.DB.Tag(s.Tag); ok {
			if s.Quality.Reason == plc.ReasonCommFailure {
				b.down[t.Device] = s.Quality.String()
			} else if s.Quality.IsGood() {
				delete(b.down, t.Device)
			}
		}
	}
	b.mu.Unlock()
	return b.hub.WriteSamples(ctx, ss)
}

// Tags returns the point database's tags.
func (b *Backend) Tags(context.Context) ([]plc.Tag, error) { return b.plant.DB.Tags, nil }

// Tag returns one tag.
func (b *Backend) Tag(_ context.Context, name string) (plc.Tag, bool, error) {
	t, ok := b.plant.DB.Tag(name)
	if !ok {
		return plc.Tag{}, false, nil
	}
	return *t, true, nil
}

// Latest returns the poller's latest samples.
func (b *Backend) Latest(_ context.Context, names []string) ([]plc.Sample, error) {
	out := make([]plc.Sample, len(names))
	for i, n := range names {
		s, ok := b.plant.poller.Latest(n)
		if !ok {
			return nil, fmt.Errorf("%w %q", plc.ErrUnknownTag, n)
		}
		s.Tag = n
		out[i] = s
	}
	return out, nil
}

// Watch hands every batch the poller reports to fn.
func (b *Backend) Watch(ctx context.Context, fn func([]plc.Sample)) error {
	return b.hub.Watch(ctx, fn)
}

// History returns raw samples or buckets from memory.
func (b *Backend) History(_ context.Context, q console.HistoryQuery) ([]console.Series, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]console.Series, len(q.Tags))
	for i, name := range q.Tags {
		h := b.history[name]
		lo, _ := slices.BinarySearchFunc(h, q.From, func(s plc.Sample, t time.Time) int { return s.Time.Compare(t) })
		hi, _ := slices.BinarySearchFunc(h, q.To, func(s plc.Sample, t time.Time) int { return s.Time.Compare(t) })
		span := h[lo:hi]
		out[i].Tag = name
		if q.Buckets == 0 {
			if q.Limit > 0 && len(span) > q.Limit {
				span = span[len(span)-q.Limit:]
			}
			out[i].Raw = slices.Clone(span)
			continue
		}
		out[i].Buckets = console.Aggregate(span, q.From, q.To, q.Buckets)
	}
	return out, nil
}

type readBackKey struct{}

// Write writes through the plc.Writer (its checks, verified read-back,
// audit) and returns the value read back.
func (b *Backend) Write(ctx context.Context, tag string, value json.RawMessage) (plc.Value, error) {
	var rec plc.AuditRecord
	err := b.writer.WriteJSON(context.WithValue(ctx, readBackKey{}, &rec), tag, value)
	return rec.ReadBack, err
}

// writeAudit is the Writer's audit sink.
func (b *Backend) writeAudit(ctx context.Context, rec plc.AuditRecord) error {
	if slot, ok := ctx.Value(readBackKey{}).(*plc.AuditRecord); ok {
		*slot = rec
	}
	e := console.AuditEntry{Time: rec.Time, Who: rec.Principal.Who, Tenant: rec.Principal.Tenant, Channel: "console", Action: console.ActionWrite, Tag: rec.Tag, Result: rec.Result()}
	if u, ok := console.UserFrom(ctx); ok {
		e.Channel = u.Channel
	}
	if rec.Old.IsValid() {
		e.Old = rec.Old.String()
	}
	if rec.New.IsValid() {
		e.New = rec.New.String()
	} else {
		e.New = rec.Requested
	}
	if rec.ReadBack.IsValid() {
		e.ReadBack = rec.ReadBack.String()
	}
	return b.RecordAudit(ctx, e)
}

// Audit returns the entries matching q, newest first.
func (b *Backend) Audit(_ context.Context, q console.AuditQuery) ([]console.AuditEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []console.AuditEntry
	for i := len(b.audit) - 1; i >= 0 && (q.Limit == 0 || len(out) < q.Limit); i-- {
		e := b.audit[i]
		if (q.Tag != "" && e.Tag != q.Tag) || (q.Who != "" && e.Who != q.Who) || (q.Action != "" && e.Action != q.Action) ||
			(!q.From.IsZero() && e.Time.Before(q.From)) || (!q.To.IsZero() && !e.Time.Before(q.To)) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// RecordAudit appends an entry.
func (b *Backend) RecordAudit(_ context.Context, e console.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = b.clk.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audit = append(b.audit, e)
	return nil
}

// Status reports the PLC as down while its tags read with a
// communication failure, and the poller's counters.
func (b *Backend) Status(context.Context) (console.Status, error) {
	var st console.Status
	b.mu.Lock()
	for _, d := range b.plant.DB.Devices {
		why, down := b.down[d.Name]
		st.Devices = append(st.Devices, console.DeviceStatus{Name: d.Name, Driver: d.Driver, Endpoint: d.Endpoint, Up: !down, LastError: why, Breaker: b.plant.driver.BreakerState().String()})
	}
	b.mu.Unlock()
	for _, g := range b.plant.poller.Stats() {
		sg, _ := b.plant.DB.Group(g.Group)
		st.Groups = append(st.Groups, console.GroupStatus{Name: g.Group, Rate: g.Rate, Scans: g.Scans, Overruns: g.Overruns, Errors: g.ReadErrors, Refresh: sg.RefreshInterval()})
	}
	st.Supervisor = &console.SupervisorNode{Name: "gateway", State: "running", Children: []console.SupervisorNode{{Name: "poller", State: "running"}, {Name: "console", State: "running"}}}
	return st, nil
}

var _ console.Backend = (*Backend)(nil)
