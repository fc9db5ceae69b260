package plc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
)

// Poller errors.
var (
	// ErrPollerRunning is returned by Serve while another Serve of the
	// same Poller runs.
	ErrPollerRunning = errors.New("plc: poller already running")
	// ErrNoDriver is returned by NewPoller and NewWriter when a tag's
	// device has no driver.
	ErrNoDriver = errors.New("plc: no driver for device")
)

// PollerOption sets a code-only setting of a Poller.
type PollerOption func(*pollerOptions)

type pollerOptions struct {
	clock    clock.Clock
	logger   *zap.Logger
	maxBatch int
}

// WithPollerClock sets the clock that times scans (default the system
// clock); tests pass a *clock.Fake.
func WithPollerClock(c clock.Clock) PollerOption { return func(o *pollerOptions) { o.clock = c } }

// WithPollerLogger sets the logger (default none).
func WithPollerLogger(l *zap.Logger) PollerOption { return func(o *pollerOptions) { o.logger = l } }

// WithPollerMaxBatch splits the reports of one device's tick in a scan
// group into batches of at most n samples, handed to the sink one after
// the other (default, and n <= 0: one batch per device and tick). The
// poller then keeps a batch buffer of n samples per device of each group
// instead of one sample per tag, which matters for large groups whose sink
// cuts batches of its own anyway.
func WithPollerMaxBatch(n int) PollerOption { return func(o *pollerOptions) { o.maxBatch = n } }

// Poller reads the tags of a point database group by group, each scan
// group at its own rate, and hands what changed to a Sink in batches.
//
// A scan group whose tags live on several devices is scanned per device:
// each (group, device) part runs on its own goroutine on the group's
// rate grid, so a device whose reads hang until their timeout (a PLC
// behind a dead link) delays only its own tags, never the other devices'
// tags of the group, nor other groups.
//
// Each tick a part calls Reader.Read once with all of the group's tags of
// its device (prepared once, in NewPoller), converts raw values to
// engineering units (Tag.ToEngineering), and reports a sample when it is
// the first of the tag, when its quality differs from the last reported
// one, when its value moved more than the tag's deadband (Tag.Band,
// against the last reported value; any change when there is none), and
// for every tag on a full refresh (ScanGroup.RefreshInterval). The
// reports of one part's tick go to the sink as one batch (or several, see
// WithPollerMaxBatch); the sink is called from several goroutines at once
// and must be safe for that.
//
// A tick that comes while a part is still scanning (a slow device or a
// slow sink) is skipped and counted as an overrun of that part, never
// queued: after an overrun the part resumes on its group's rate grid. A
// sink that blocks blocks only the part that called it; the time is
// counted. A Reader that panics (a driver bug) costs only its own
// samples: for that tick they are Bad/not read, the read counts as failed
// and the panic is logged with its stack; the other devices and groups go
// on. Metrics are in Stats (per group, with a per-device breakdown) and,
// for Prometheus, in the Poller itself: it is a prometheus.Collector that
// the caller registers.
type Poller struct {
	clk      clock.Clock
	log      *zap.Logger
	sink     Sink
	maxBatch int
	groups   []*group
	// index maps a tag name to its group (high 8 bits) and its position
	// in the group (low 24 bits).
	index map[string]uint32

	running atomic.Bool
}

// Limits of the packed index.
const (
	maxGroups       = 1 << 8
	maxTagsPerGroup = 1 << 24
)

// group is one scan group: its configuration and its parts, one per
// device, in device order. Its tags are sorted by device, so each part's
// tags are a contiguous range of them.
type group struct {
	name    string
	rate    time.Duration
	refresh time.Duration
	tags    []*Tag // into the point database, shared
	parts   []*part
}

// part is the tags of one device within a group, scanned by a goroutine
// of its own. Only that goroutine touches the fields above mu; mu guards
// latest; the counters are atomic.
type part struct {
	g      *group
	device string
	reader Reader
	off    int         // of tags[0] in g.tags
	tags   []*Tag      // g.tags[off : off+len(tags)]
	buf    [2][]Sample // read into buf[cur]; the other is latest
	cur    int
	last   []reported // last reported, per tag
	out    []Sample   // the batch, reused
	full   time.Time
	failed bool // the last Read returned an error; for logging changes only

	mu     sync.RWMutex
	latest []Sample

	scans, overruns, read, emitted atomic.Uint64
	sinkBlocked                    atomic.Int64 // nanoseconds
	sinkSlow, readErrors           atomic.Uint64
	lastScan, lastDur              atomic.Int64 // Unix nanoseconds, nanoseconds
}

// reported is what change detection needs of the last reported sample.
type reported struct {
	value   Value
	quality Quality
}

// NewPoller prepares a poller for every tag of db, reading each through
// the driver of its device (drivers maps device names to open drivers),
// and delivering to sink. db should have passed Validate; NewPoller checks
// only what it needs: every tag's device has a driver (ErrNoDriver),
// every tag's group exists, tag names are unique.
//
// The poller keeps pointers to db's tags rather than copies (a large point
// database is not held twice): db must not be changed while the poller is
// in use. Drivers get a copy of each device's tags in Prepare.
func NewPoller(db *PointDB, drivers map[string]Driver, sink Sink, opts ...PollerOption) (*Poller, error) {
	o := pollerOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if db == nil {
		return nil, errors.New("plc: NewPoller needs a point database")
	}
	if sink == nil {
		return nil, errors.New("plc: NewPoller needs a sink")
	}
	p := &Poller{clk: clock.Or(o.clock), log: o.logger, sink: sink, maxBatch: o.maxBatch, index: make(map[string]uint32, len(db.Tags))}
	if p.log == nil {
		p.log = zap.NewNop()
	}

	byGroup := map[string][]*Tag{}
	var order []string
	for i := range db.Tags {
		t := &db.Tags[i]
		g := t.Group
		if g == "" {
			g = DefaultGroup
		}
		if _, ok := db.Group(g); !ok {
			return nil, fmt.Errorf("plc: tag %q: unknown scan group %q", t.Name, g)
		}
		if d, ok := drivers[t.Device]; !ok || d == nil {
			return nil, fmt.Errorf("%w %q (tag %q)", ErrNoDriver, t.Device, t.Name)
		}
		if _, dup := p.index[t.Name]; dup {
			return nil, fmt.Errorf("plc: duplicate tag name %q", t.Name)
		}
		p.index[t.Name] = 0
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], t)
	}
	if len(order) > maxGroups {
		return nil, fmt.Errorf("plc: NewPoller: %d scan groups in use, at most %d", len(order), maxGroups)
	}
	// Declared groups first, in declaration order, then the default one.
	rank := map[string]int{}
	for i, g := range db.Groups {
		rank[g.Name] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		ri, oki := rank[order[i]]
		rj, okj := rank[order[j]]
		if oki != okj {
			return oki
		}
		return ri < rj
	})

	var prep []Tag // the tags of one part, handed to Prepare
	for gi, name := range order {
		sg, _ := db.Group(name)
		tags := slices.Clip(byGroup[name])
		delete(byGroup, name)
		if len(tags) > maxTagsPerGroup {
			return nil, fmt.Errorf("plc: NewPoller: scan group %q has %d tags, at most %d", name, len(tags), maxTagsPerGroup)
		}
		sort.SliceStable(tags, func(i, j int) bool { return tags[i].Device < tags[j].Device })
		g := &group{
			name:    name,
			rate:    max(sg.ScanRate(), MinRate),
			refresh: sg.RefreshInterval(),
			tags:    tags,
		}
		// One allocation per array for the whole group; parts take
		// capped ranges of them.
		bufs := [2][]Sample{make([]Sample, len(tags)), make([]Sample, len(tags))}
		last := make([]reported, len(tags))
		for i, t := range tags {
			bufs[0][i].Tag = t.Name
			bufs[1][i].Tag = t.Name
			p.index[t.Name] = uint32(gi)<<24 | uint32(i)
		}
		for off := 0; off < len(tags); {
			dev := tags[off].Device
			n := 1
			for off+n < len(tags) && tags[off+n].Device == dev {
				n++
			}
			prep = prep[:0]
			for _, t := range tags[off : off+n] {
				prep = append(prep, *t)
			}
			r, err := drivers[dev].Prepare(prep)
			if err != nil {
				return nil, fmt.Errorf("plc: prepare group %q on device %q: %w", name, dev, err)
			}
			outCap := n
			if p.maxBatch > 0 {
				outCap = min(outCap, p.maxBatch)
			}
			end := off + n
			pt := &part{
				g: g, device: dev, reader: r, off: off,
				tags: tags[off:end:end],
				buf:  [2][]Sample{bufs[0][off:end:end], bufs[1][off:end:end]},
				last: last[off:end:end],
				out:  make([]Sample, 0, outCap),
			}
			pt.latest = pt.buf[1]
			g.parts = append(g.parts, pt)
			off = end
		}
		p.groups = append(p.groups, g)
	}
	return p, nil
}

// Serve polls until ctx is done, then returns ctx.Err(). It returns early
// with an error when the sink fails (the error wraps the sink's), having
// stopped every part of every group. A Poller may be served again after
// Serve returns; it then reports every tag anew on its first scan.
func (p *Poller) Serve(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrPollerRunning
	}
	defer p.running.Store(false)
	if len(p.groups) == 0 { // nothing to poll, but a supervisor expects Serve to run
		<-ctx.Done()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := p.clk.Now() // every part's grid starts here
	for _, g := range p.groups {
		for _, pt := range g.parts {
			pt.reset()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.run(ctx, pt, start); err != nil && ctx.Err() == nil {
					errOnce.Do(func() { firstErr = err })
					cancel()
				}
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (pt *part) reset() {
	clear(pt.last)
	pt.full = time.Time{}
}

// run scans pt at its group's rate, on the grid that starts at next,
// until ctx is done or the sink fails.
func (p *Poller) run(ctx context.Context, pt *part, next time.Time) error {
	rate := pt.g.rate
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := p.scan(ctx, pt); err != nil {
			return err
		}
		now := p.clk.Now()
		next = next.Add(rate)
		if now.After(next) {
			// Still scanning when ticks came: skip them, stay on the grid.
			missed := (now.Sub(next)-1)/rate + 1
			pt.overruns.Add(uint64(missed))
			next = next.Add(missed * rate)
		}
		if wait := next.Sub(now); wait > 0 {
			if timer == nil {
				timer = p.clk.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C():
			}
		} else if ctx.Err() != nil {
			return nil
		}
	}
}

// scan reads the part once, reports what changed and publishes the
// latest values. It allocates nothing when the driver and sink do not.
func (p *Poller) scan(ctx context.Context, pt *part) error {
	g := pt.g
	start := p.clk.Now()
	buf := pt.buf[pt.cur]
	// The buffer holds the scan before last; a reader that fails without
	// filling it must leave Bad/not read, never an old value.
	clear(buf)
	rerr := safeRead(ctx, pt.reader, buf)
	if ctx.Err() != nil {
		return nil
	}
	if rerr != nil {
		pt.readErrors.Add(1)
		if !pt.failed {
			fields := []zap.Field{zap.String("group", g.name), zap.String("device", pt.device), zap.Error(rerr)}
			if pe, ok := rerr.(*readPanic); ok {
				fields = append(fields, zap.ByteString("stack", pe.stack))
			}
			p.log.Warn("read failed", fields...)
		}
	} else if pt.failed {
		p.log.Info("read recovered", zap.String("group", g.name), zap.String("device", pt.device))
	}
	pt.failed = rerr != nil

	full := g.refresh > 0 && !start.Before(pt.full)
	if full {
		pt.full = start.Add(g.refresh)
	}
	out := pt.out[:0]
	var err error
	for i := range buf {
		s := &buf[i]
		t := pt.tags[i]
		s.Tag = t.Name
		if s.Time.IsZero() {
			s.Time = start
		}
		if t.Scaling != nil {
			s.Value = t.ToEngineering(s.Value)
		}
		if l := &pt.last[i]; full || changed(l, s, t.Band()) {
			l.value, l.quality = s.Value, s.Quality
			if err == nil { // after a failed batch the scan only updates latest
				out = append(out, *s)
				if len(out) == p.maxBatch {
					err = p.emit(ctx, pt, out)
					out = out[:0]
				}
			}
		}
	}
	pt.out = out[:0]

	pt.mu.Lock()
	pt.latest = buf
	pt.mu.Unlock()
	pt.cur ^= 1

	pt.read.Add(uint64(len(buf)))
	if len(out) > 0 && err == nil {
		err = p.emit(ctx, pt, out)
	}
	end := p.clk.Now()
	pt.scans.Add(1)
	pt.lastScan.Store(start.UnixNano())
	pt.lastDur.Store(int64(end.Sub(start)))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("plc: poller group %q device %q: sink: %w", g.name, pt.device, err)
	}
	return nil
}

// emit hands one batch to the sink and counts it.
func (p *Poller) emit(ctx context.Context, pt *part, batch []Sample) error {
	pt.emitted.Add(uint64(len(batch)))
	t0 := p.clk.Now()
	err := p.sink.WriteSamples(ctx, batch)
	d := p.clk.Now().Sub(t0)
	pt.sinkBlocked.Add(int64(d))
	if d > pt.g.rate {
		pt.sinkSlow.Add(1)
	}
	return err
}

// readPanic is a Reader.Read that panicked: a driver bug, contained so
// that it costs only that device's samples (Bad/not read), not the
// process.
type readPanic struct {
	value any
	stack []byte
}

func (e *readPanic) Error() string { return fmt.Sprintf("plc: reader panicked: %v", e.value) }

// safeRead calls r.Read, turning a panic into a *readPanic.
func safeRead(ctx context.Context, r Reader, out []Sample) (err error) {
	defer func() {
		if v := recover(); v != nil {
			clear(out) // whatever the reader half wrote is not a reading
			err = &readPanic{value: v, stack: debug.Stack()}
		}
	}()
	return r.Read(ctx, out)
}

// changed reports whether s must be reported after l, the last reported
// sample of the tag.
func changed(l *reported, s *Sample, band float64) bool {
	if l.quality != s.Quality {
		return true
	}
	a, b := l.value, s.Value
	if a.kind != b.kind {
		return true
	}
	if !b.IsValid() {
		return false
	}
	if b.kind.IsNumeric() {
		if b.kind.IsFloat() {
			fa, fb := a.Float(), b.Float()
			if math.IsNaN(fa) && math.IsNaN(fb) {
				return false
			}
		}
		return a.Distance(b) > band
	}
	return !a.Equal(b)
}

// Latest returns the last value read of a tag, with its quality and time
// (its age is the time since Sample.Time), whether or not it was reported.
// Before the first scan the sample is Bad/not read. ok is false for a tag
// the poller does not have.
func (p *Poller) Latest(name string) (s Sample, ok bool) {
	slot, ok := p.index[name]
	if !ok {
		return Sample{}, false
	}
	g := p.groups[slot>>24]
	i := int(slot & (maxTagsPerGroup - 1))
	// The parts are in tag order: find the first that ends after i.
	k := sort.Search(len(g.parts), func(k int) bool { return g.parts[k].off+len(g.parts[k].tags) > i })
	pt := g.parts[k]
	pt.mu.RLock()
	s = pt.latest[i-pt.off]
	pt.mu.RUnlock()
	return s, true
}

// Snapshot appends the latest sample of every tag to dst, group by group
// in the order of Stats (within a group, device by device in the order of
// GroupStats.Devices), and returns it; pass dst[:0] to reuse a slice.
func (p *Poller) Snapshot(dst []Sample) []Sample {
	for _, g := range p.groups {
		for _, pt := range g.parts {
			pt.mu.RLock()
			dst = append(dst, pt.latest...)
			pt.mu.RUnlock()
		}
	}
	return dst
}

// Len returns the number of tags the poller reads.
func (p *Poller) Len() int { return len(p.index) }

// ScanCounters are the counters of a scan group, or of one device's tags
// within it, since NewPoller.
type ScanCounters struct {
	Tags int
	// Scans counts completed scans, one per device of the group per
	// tick; Overruns counts ticks the devices skipped because their
	// previous scan (read plus sink) was still running.
	Scans, Overruns uint64
	// SamplesRead counts tag values read; SamplesEmitted those reported
	// to the sink.
	SamplesRead, SamplesEmitted uint64
	// SinkBlocked is the total time spent in Sink.WriteSamples; SinkSlow
	// counts calls that took longer than the group's rate.
	SinkBlocked time.Duration
	SinkSlow    uint64
	// ReadErrors counts Reader.Read calls that failed as a whole.
	ReadErrors uint64
	// LastScan is when the latest scan started (zero before the first);
	// LastScanDuration how long the last completed scan took, sink
	// included. For a group: the latest start of any device and the
	// longest of the devices' last scans; a device whose read hangs shows
	// in neither until it returns: see its Overruns.
	LastScan         time.Time
	LastScanDuration time.Duration
}

// add adds d's counters to c, as a group sums its devices'.
func (c *ScanCounters) add(d ScanCounters) {
	c.Tags += d.Tags
	c.Scans += d.Scans
	c.Overruns += d.Overruns
	c.SamplesRead += d.SamplesRead
	c.SamplesEmitted += d.SamplesEmitted
	c.SinkBlocked += d.SinkBlocked
	c.SinkSlow += d.SinkSlow
	c.ReadErrors += d.ReadErrors
	if d.LastScan.After(c.LastScan) {
		c.LastScan = d.LastScan
	}
	c.LastScanDuration = max(c.LastScanDuration, d.LastScanDuration)
}

// GroupStats are the counters of one scan group: the sums of its
// devices' counters, since each device of a group is scanned on its own.
type GroupStats struct {
	Group string
	Rate  time.Duration
	ScanCounters
	// Devices breaks the counters down by device, in device name order.
	Devices []DeviceStats
}

// DeviceStats are the counters of one device's tags within a scan group.
type DeviceStats struct {
	Device string
	ScanCounters
}

// Stats returns the counters of every scan group: declared groups in
// declaration order, then the default group.
func (p *Poller) Stats() []GroupStats {
	out := make([]GroupStats, len(p.groups))
	for i, g := range p.groups {
		gs := GroupStats{Group: g.name, Rate: g.rate, Devices: make([]DeviceStats, len(g.parts))}
		for k, pt := range g.parts {
			d := ScanCounters{
				Tags:  len(pt.tags),
				Scans: pt.scans.Load(), Overruns: pt.overruns.Load(),
				SamplesRead: pt.read.Load(), SamplesEmitted: pt.emitted.Load(),
				SinkBlocked: time.Duration(pt.sinkBlocked.Load()), SinkSlow: pt.sinkSlow.Load(),
				ReadErrors:       pt.readErrors.Load(),
				LastScanDuration: time.Duration(pt.lastDur.Load()),
			}
			if ns := pt.lastScan.Load(); ns != 0 {
				d.LastScan = time.Unix(0, ns)
			}
			gs.Devices[k] = DeviceStats{Device: pt.device, ScanCounters: d}
			gs.add(d)
		}
		out[i] = gs
	}
	return out
}
