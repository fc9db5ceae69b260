package plc_test

import (
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// recorder is a Sink that keeps copies of the batches it gets. When gate
// is set, each call first signals entered and waits on gate.
type recorder struct {
	mu      sync.Mutex
	batches [][]plc.Sample
	gate    chan struct{}
	entered chan struct{}
	err     error
}

func (r *recorder) WriteSamples(ctx context.Context, s []plc.Sample) error {
	if r.gate != nil {
		r.entered <- struct{}{}
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]plc.Sample(nil), s...))
	return r.err
}

// take returns and forgets the batches so far.
func (r *recorder) take() [][]plc.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batches
	r.batches = nil
	return b
}

type harness struct {
	t    *testing.T
	clk  *clock.Fake
	drv  *plctest.Driver
	rec  *recorder
	p    *plc.Poller
	done chan error
	stop context.CancelFunc
	n    int // scan loops: one per device of each scan group
}

func newHarness(t *testing.T, db *plc.PointDB, rec *recorder) *harness {
	t.Helper()
	if rec == nil {
		rec = &recorder{}
	}
	clk := clock.NewFake(t0)
	drv := plctest.New(plctest.WithNow(clk.Now))
	p, err := plc.NewPoller(db, map[string]plc.Driver{"d": drv}, rec, plc.WithPollerClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, clk: clk, drv: drv, rec: rec, p: p, n: loops(p)}
}

// loops returns the number of scan loops of p, one per device of each
// scan group: how many timers wait between ticks.
func loops(p *plc.Poller) int {
	n := 0
	for _, s := range p.Stats() {
		n += len(s.Devices)
	}
	return n
}

// start runs Serve and waits until every scan loop has scanned once.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.p.Serve(ctx) }()
	h.clk.BlockUntil(h.n)
	h.t.Cleanup(func() {
		cancel()
		if err := <-h.done; !errors.Is(err, context.Canceled) {
			h.t.Errorf("Serve returned %v, want context.Canceled", err)
		}
	})
}

// tick advances the clock by d and waits until every loop waits again,
// that is, until the scans due have run and reported.
func (h *harness) tick(d time.Duration) {
	h.clk.Advance(d)
	h.clk.BlockUntil(h.n)
}

func (h *harness) stats(group string) plc.GroupStats {
	for _, s := range h.p.Stats() {
		if s.Group == group {
			return s
		}
	}
	h.t.Fatalf("no group %q", group)
	return plc.GroupStats{}
}

// summary renders batches as "tag=value/quality" lists, one per batch.
func summary(batches [][]plc.Sample) []string {
	var out []string
	for _, b := range batches {
		var parts []string
		for _, s := range b {
			q := "good"
			if !s.Quality.IsGood() {
				q = s.Quality.Reason.String()
			}
			parts = append(parts, s.Tag+"="+s.Value.String()+"/"+q)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func expectBatches(t *testing.T, got [][]plc.Sample, want ...string) {
	t.Helper()
	s := summary(got)
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Fatalf("batches:\n%s\nwant:\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

// expectBatchesAnyOrder is expectBatches for batches that come from
// several devices' scan loops at once, in no set order.
func expectBatchesAnyOrder(t *testing.T, got [][]plc.Sample, want ...string) {
	t.Helper()
	s := summary(got)
	sort.Strings(s)
	sort.Strings(want)
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Fatalf("batches (sorted):\n%s\nwant:\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

func f64(v float64) *float64 { return &v }

func testDB(groups []plc.ScanGroup, tags ...plc.Tag) *plc.PointDB {
	for i := range tags {
		tags[i].Device = "d"
		if tags[i].Address == "" {
			tags[i].Address = tags[i].Name
		}
	}
	return &plc.PointDB{Devices: []plc.Device{{Name: "d", Driver: plctest.DriverName}}, Groups: groups, Tags: tags}
}

var fast = []plc.ScanGroup{{Name: "fast", Rate: 100 * time.Millisecond}}

func TestPollerReportsFirstScanThenChangesBeyondDeadband(t *testing.T) {
	db := testDB(fast,
		plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"},
		plc.Tag{Name: "B", Type: plc.TypeReal, Group: "fast", Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 0.5}},
		plc.Tag{Name: "C", Type: plc.TypeBool, Group: "fast"},
	)
	h := newHarness(t, db, nil)
	h.drv.Set("B", plc.FloatValue(plc.Real, 20))
	h.start()
	expectBatches(t, h.rec.take(), "A=0/good B=20/good C=false/good")

	h.drv.Set("B", plc.FloatValue(plc.Real, 20.25)) // within the band
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take())

	h.drv.Set("B", plc.FloatValue(plc.Real, 20.75)) // 0.75 from the last reported 20
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "B=20.75/good")

	h.drv.Set("B", plc.FloatValue(plc.Real, 20.5)) // exactly the band: not beyond it
	h.drv.Set("A", plc.IntValue(plc.Int, -3))
	h.drv.Set("C", plc.BoolValue(true))
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=-3/good C=true/good")

	if s := h.stats("fast"); s.Scans != 4 || s.SamplesRead != 12 || s.SamplesEmitted != 6 || s.Overruns != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestPollerScalesAndAppliesPercentDeadband(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "T", Type: plc.TypeInt, Group: "fast",
		Scaling:  &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 100},
		Deadband: plc.Deadband{Mode: plc.DeadbandPercent, Value: 1}}) // 1 % of 0..100 = 1.0
	h := newHarness(t, db, nil)
	h.drv.Set("T", plc.IntValue(plc.Int, 13824))
	h.start()
	expectBatches(t, h.rec.take(), "T=50/good")

	h.drv.Set("T", plc.IntValue(plc.Int, 13824+200)) // +0.72
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take())
	h.drv.Set("T", plc.IntValue(plc.Int, 13824+300)) // +1.085
	h.tick(100 * time.Millisecond)
	got := h.rec.take()
	if len(got) != 1 || got[0][0].Value.Kind() != plc.LReal || math.Abs(got[0][0].Value.Float()-(13824+300)*100.0/27648) > 1e-9 {
		t.Fatalf("batches = %v", summary(got))
	}
}

func TestPollerReportsEveryQualityChange(t *testing.T) {
	db := testDB(fast,
		plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast", Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 100}},
		plc.Tag{Name: "B", Type: plc.TypeInt, Group: "fast"},
	)
	h := newHarness(t, db, nil)
	h.start()
	expectBatches(t, h.rec.take(), "A=0/good B=0/good")

	h.drv.SetQuality("A", plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: 0x0a, Detail: "object does not exist"})
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=<none>/device error")
	h.tick(100 * time.Millisecond) // still bad the same way: nothing new
	expectBatches(t, h.rec.take())

	h.drv.Fail(errors.New("cable pulled"))
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=<none>/comm failure B=<none>/comm failure")
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take())

	h.drv.Fail(nil)
	h.drv.SetQuality("A", plc.Good)
	h.drv.Set("A", plc.IntValue(plc.Int, 1)) // within A's band, but the quality changed
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=1/good B=0/good")

	h.drv.SetQuality("B", plc.Quality{Status: plc.StatusUncertain, Reason: plc.ReasonStale})
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "B=<none>/stale")
}

func TestPollerFullRefresh(t *testing.T) {
	groups := []plc.ScanGroup{
		{Name: "refresh", Rate: 100 * time.Millisecond, FullRefresh: time.Second},
		{Name: "quiet", Rate: 100 * time.Millisecond, FullRefresh: plc.NoFullRefresh},
	}
	db := testDB(groups,
		plc.Tag{Name: "R", Type: plc.TypeInt, Group: "refresh"},
		plc.Tag{Name: "Q", Type: plc.TypeInt, Group: "quiet"},
	)
	h := newHarness(t, db, nil)
	h.start()
	first := summary(h.rec.take())
	sort.Strings(first) // the two groups' first scans run concurrently
	if strings.Join(first, ",") != "Q=0/good,R=0/good" {
		t.Fatalf("first batches %v", first)
	}
	for range 9 {
		h.tick(100 * time.Millisecond)
	}
	expectBatches(t, h.rec.take())
	h.tick(100 * time.Millisecond) // t = 1 s
	expectBatches(t, h.rec.take(), "R=0/good")
	for range 10 {
		h.tick(100 * time.Millisecond)
	}
	expectBatches(t, h.rec.take(), "R=0/good") // t = 2 s
}

func TestPollerGroupsScanAtTheirOwnRates(t *testing.T) {
	groups := []plc.ScanGroup{
		{Name: "fast", Rate: 10 * time.Millisecond},
		{Name: "mid", Rate: 250 * time.Millisecond},
		{Name: "slow", Rate: time.Second},
	}
	db := testDB(groups,
		plc.Tag{Name: "F1", Type: plc.TypeInt, Group: "fast"},
		plc.Tag{Name: "F2", Type: plc.TypeInt, Group: "fast"},
		plc.Tag{Name: "M", Type: plc.TypeInt, Group: "mid"},
		plc.Tag{Name: "S", Type: plc.TypeInt, Group: "slow"},
		plc.Tag{Name: "D", Type: plc.TypeInt}, // default group, 1 s
	)
	h := newHarness(t, db, nil)
	h.start()
	for range 200 { // 2 s in 10 ms steps
		h.tick(10 * time.Millisecond)
	}
	want := map[string]uint64{"fast": 201, "mid": 9, "slow": 3, plc.DefaultGroup: 3}
	var total uint64
	for _, s := range h.p.Stats() {
		if s.Scans != want[s.Group] || s.Overruns != 0 {
			t.Errorf("group %s: %d scans, %d overruns; want %d, 0", s.Group, s.Scans, s.Overruns, want[s.Group])
		}
		total += s.Scans
	}
	// One Read per group per tick, with all of the group's tags.
	if got := h.drv.Reads(); got != int64(total) {
		t.Errorf("driver reads = %d, want %d", got, total)
	}
	if s := h.stats("fast"); s.SamplesRead != 2*201 || s.Tags != 2 {
		t.Errorf("fast: %+v", s)
	}
	var names []string
	for _, s := range h.p.Stats() {
		names = append(names, s.Group)
	}
	if strings.Join(names, ",") != "fast,mid,slow,default" {
		t.Errorf("groups in order %v", names)
	}
}

func TestPollerSkipsAndCountsOverrunTicks(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"})
	h := newHarness(t, db, nil)
	h.start()
	entered, release := make(chan struct{}), make(chan struct{})
	h.drv.SetReadHook(func(ctx context.Context) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	h.clk.Advance(100 * time.Millisecond) // t = 100 ms: the scan starts and hangs
	<-entered
	h.clk.Advance(250 * time.Millisecond) // t = 350 ms: ticks at 200 and 300 ms pass
	h.drv.SetReadHook(nil)
	close(release)
	h.clk.BlockUntil(1)
	s := h.stats("fast")
	if s.Overruns != 2 || s.Scans != 2 || s.LastScanDuration != 250*time.Millisecond {
		t.Fatalf("after a 250 ms scan: %+v", s)
	}
	// The group is back on its grid: the next scan is at 400 ms, not 450.
	h.tick(50 * time.Millisecond)
	if s := h.stats("fast"); s.Scans != 3 || !s.LastScan.Equal(t0.Add(400*time.Millisecond)) {
		t.Fatalf("next scan: %+v", s)
	}
	if got := h.drv.Reads(); got != 3 {
		t.Fatalf("reads = %d, want 3 (no queued ticks)", got)
	}
}

func TestPollerSlowSinkBlocksItsGroupAndIsCounted(t *testing.T) {
	groups := []plc.ScanGroup{{Name: "fast", Rate: 100 * time.Millisecond}, {Name: "other", Rate: 100 * time.Millisecond}}
	db := testDB(groups,
		plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"},
		plc.Tag{Name: "B", Type: plc.TypeInt, Group: "other"},
	)
	rec := &recorder{gate: make(chan struct{}), entered: make(chan struct{})}
	h := newHarness(t, db, rec)
	go func() { // let the first scans of both groups through
		<-rec.entered
		rec.gate <- struct{}{}
		<-rec.entered
		rec.gate <- struct{}{}
	}()
	h.start()
	h.rec.take()

	h.drv.Set("A", plc.IntValue(plc.Int, 1))
	h.clk.Advance(100 * time.Millisecond) // fast reports A and blocks in the sink
	<-rec.entered
	h.clk.BlockUntil(1) // other group waits again (nothing changed)
	for range 3 {       // 300 ms pass: "other" keeps scanning, "fast" does not
		h.clk.Advance(100 * time.Millisecond)
		h.clk.BlockUntil(1)
	}
	if s := h.stats("other"); s.Scans != 5 {
		t.Fatalf("other group blocked too: %+v", s)
	}
	if s := h.stats("fast"); s.Scans != 1 {
		t.Fatalf("fast scanned while its sink blocked: %+v", s)
	}
	h.clk.Advance(50 * time.Millisecond) // t = 450 ms
	rec.gate <- struct{}{}
	h.clk.BlockUntil(2)
	s := h.stats("fast")
	if s.SinkBlocked != 350*time.Millisecond || s.SinkSlow != 1 || s.Overruns != 3 || s.Scans != 2 {
		t.Fatalf("fast after a 350 ms sink call: %+v", s)
	}
	if s := h.stats("other"); s.SinkSlow != 0 || s.Overruns != 0 {
		t.Fatalf("other: %+v", s)
	}
}

func TestPollerLatestAndSnapshot(t *testing.T) {
	db := testDB(fast,
		plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast", Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 10}},
		plc.Tag{Name: "T", Type: plc.TypeWord, Scaling: &plc.Scaling{RawMin: 0, RawMax: 1000, EngMin: 0, EngMax: 10}},
	)
	h := newHarness(t, db, nil)
	if s, ok := h.p.Latest("A"); !ok || s.Quality.IsGood() || s.Quality.Reason != plc.ReasonNotRead || s.Tag != "A" {
		t.Fatalf("Latest before the first scan = %+v, %v", s, ok)
	}
	if _, ok := h.p.Latest("nope"); ok {
		t.Fatal("Latest of an unknown tag is ok")
	}
	h.drv.Set("T", plc.UintValue(plc.Word, 250))
	h.start()
	h.drv.Set("A", plc.IntValue(plc.Int, 3)) // inside the deadband: not reported, but latest
	h.tick(100 * time.Millisecond)
	a, _ := h.p.Latest("A")
	if a.Value.String() != "3" || !a.Quality.IsGood() || !a.Time.Equal(t0.Add(100*time.Millisecond)) {
		t.Fatalf("Latest(A) = %+v", a)
	}
	snap := h.p.Snapshot(nil)
	if len(snap) != 2 || h.p.Len() != 2 || snap[0].Tag != "A" || snap[1].Tag != "T" || snap[1].Value.String() != "2.5" || !snap[1].Time.Equal(t0) {
		t.Fatalf("Snapshot = %+v", snap)
	}
}

func TestPollerReadErrorsGiveBadSamplesAndAreCounted(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"})
	h := newHarness(t, db, nil)
	h.start()
	h.rec.take()
	h.drv.SetReadHook(func(context.Context) error { return plc.ErrNotConnected })
	h.tick(100 * time.Millisecond)
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=<none>/comm failure")
	if s := h.stats("fast"); s.ReadErrors != 2 {
		t.Fatalf("stats = %+v", s)
	}
	h.drv.SetReadHook(nil)
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=0/good")
}

func TestPollerMetrics(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"}, plc.Tag{Name: "B", Type: plc.TypeInt, Group: "fast"})
	h := newHarness(t, db, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.p)
	h.start()
	h.drv.Set("A", plc.IntValue(plc.Int, 1))
	h.tick(100 * time.Millisecond)
	const want = `
# HELP kiln_plc_poller_samples_emitted_total Samples reported to the sink (changes and full refreshes), per scan group.
# TYPE kiln_plc_poller_samples_emitted_total counter
kiln_plc_poller_samples_emitted_total{group="fast"} 3
# HELP kiln_plc_poller_samples_read_total Tag values read, per scan group.
# TYPE kiln_plc_poller_samples_read_total counter
kiln_plc_poller_samples_read_total{group="fast"} 4
# HELP kiln_plc_poller_scans_total Scans completed, per scan group.
# TYPE kiln_plc_poller_scans_total counter
kiln_plc_poller_scans_total{group="fast"} 2
# HELP kiln_plc_poller_overruns_total Ticks skipped because the previous scan was still running, per scan group.
# TYPE kiln_plc_poller_overruns_total counter
kiln_plc_poller_overruns_total{group="fast"} 0
`
	err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kiln_plc_poller_samples_emitted_total", "kiln_plc_poller_samples_read_total", "kiln_plc_poller_scans_total", "kiln_plc_poller_overruns_total")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 7 {
		t.Fatalf("%d metrics, %v; want 7", n, err)
	}
}

func TestPollerServeErrors(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"})
	sinkErr := errors.New("spool full")
	rec := &recorder{err: sinkErr}
	h := newHarness(t, db, rec)
	err := h.p.Serve(context.Background()) // the first batch fails at once
	if !errors.Is(err, sinkErr) || !strings.Contains(err.Error(), `group "fast"`) {
		t.Fatalf("Serve = %v, want the sink's error", err)
	}

	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	h.rec.take()
	h.start() // served again: reports everything anew
	expectBatches(t, h.rec.take(), "A=0/good")
	if err := h.p.Serve(context.Background()); !errors.Is(err, plc.ErrPollerRunning) {
		t.Fatalf("second Serve = %v", err)
	}
}

func TestNewPollerChecks(t *testing.T) {
	drv := plctest.New()
	sink := plc.SinkFunc(func(context.Context, []plc.Sample) error { return nil })
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"})
	if _, err := plc.NewPoller(db, nil, sink); !errors.Is(err, plc.ErrNoDriver) {
		t.Errorf("no driver: %v", err)
	}
	if _, err := plc.NewPoller(db, map[string]plc.Driver{"d": drv}, nil); err == nil {
		t.Error("nil sink accepted")
	}
	if _, err := plc.NewPoller(db, map[string]plc.Driver{"d": nil}, sink); !errors.Is(err, plc.ErrNoDriver) {
		t.Errorf("nil driver: %v", err)
	}
	if _, err := plc.NewPoller(nil, map[string]plc.Driver{"d": drv}, sink); err == nil || !strings.Contains(err.Error(), "point database") {
		t.Errorf("nil database: %v", err)
	}
	bad := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "medium"})
	if _, err := plc.NewPoller(bad, map[string]plc.Driver{"d": drv}, sink); err == nil || !strings.Contains(err.Error(), `unknown scan group "medium"`) {
		t.Errorf("unknown group: %v", err)
	}
	dup := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt}, plc.Tag{Name: "A", Type: plc.TypeInt})
	if _, err := plc.NewPoller(dup, map[string]plc.Driver{"d": drv}, sink); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate: %v", err)
	}
	drv.Close()
	if _, err := plc.NewPoller(db, map[string]plc.Driver{"d": drv}, sink); !errors.Is(err, plc.ErrClosed) {
		t.Errorf("closed driver: %v", err)
	}
}

func TestPollerWithoutTagsServesUntilCancelled(t *testing.T) {
	p, err := plc.NewPoller(&plc.PointDB{}, nil, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before cancel", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
}

// lazyDriver wraps a driver whose reader, once broken, fails without
// filling the samples, against the Reader contract.
type lazyDriver struct {
	plc.Driver
	broken *atomic.Bool
}

func (d lazyDriver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	r, err := d.Driver.Prepare(tags)
	return lazyReader{r, d.broken}, err
}

type lazyReader struct {
	plc.Reader
	broken *atomic.Bool
}

func (r lazyReader) Read(ctx context.Context, out []plc.Sample) error {
	if r.broken.Load() {
		return errors.New("lazy: broken")
	}
	return r.Reader.Read(ctx, out)
}

// A reader that fails without filling its samples must not let an older
// scan's good value through: the poller's double buffer holds one.
func TestPollerNeverReportsStaleGoodSamples(t *testing.T) {
	db := testDB(fast, plc.Tag{Name: "A", Type: plc.TypeInt, Group: "fast"})
	clk := clock.NewFake(t0)
	drv := plctest.New(plctest.WithNow(clk.Now))
	drv.Set("A", plc.IntValue(plc.Int, 7))
	broken := new(atomic.Bool)
	rec := &recorder{}
	p, err := plc.NewPoller(db, map[string]plc.Driver{"d": lazyDriver{drv, broken}}, rec, plc.WithPollerClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clk, drv: drv, rec: rec, p: p, n: 1}
	h.start()
	expectBatches(t, h.rec.take(), "A=7/good")
	broken.Store(true)
	for range 3 {
		h.tick(100 * time.Millisecond)
	}
	expectBatches(t, h.rec.take(), "A=<none>/not read")
	if s, _ := p.Latest("A"); s.Quality.IsGood() || !s.Time.Equal(t0.Add(300*time.Millisecond)) {
		t.Fatalf("latest = %+v, want bad at the last scan's time", s)
	}
}

// panicDriver wraps a driver whose reader panics while told to.
type panicDriver struct {
	plc.Driver
	panics *atomic.Bool
}

func (d panicDriver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	r, err := d.Driver.Prepare(tags)
	return panicReader{r, d.panics}, err
}

type panicReader struct {
	plc.Reader
	panics *atomic.Bool
}

func (r panicReader) Read(ctx context.Context, out []plc.Sample) error {
	if err := r.Reader.Read(ctx, out); err != nil || !r.panics.Load() {
		return err
	}
	panic("index out of range in a PDU parser")
}

// A driver that panics costs its own samples, not the poller, nor the
// other device's samples in the same group.
func TestPollerContainsAPanickingReader(t *testing.T) {
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "d", Driver: plctest.DriverName}, {Name: "e", Driver: plctest.DriverName}},
		Groups:  fast,
		Tags: []plc.Tag{
			{Name: "A", Device: "d", Address: "A", Type: plc.TypeInt, Group: "fast"},
			{Name: "B", Device: "e", Address: "B", Type: plc.TypeInt, Group: "fast"},
		},
	}
	clk := clock.NewFake(t0)
	good, bad := plctest.New(plctest.WithNow(clk.Now)), plctest.New(plctest.WithNow(clk.Now))
	panics := new(atomic.Bool)
	rec := &recorder{}
	core, logs := observer.New(zap.WarnLevel)
	p, err := plc.NewPoller(db, map[string]plc.Driver{"d": panicDriver{bad, panics}, "e": good}, rec,
		plc.WithPollerClock(clk), plc.WithPollerLogger(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clk, drv: good, rec: rec, p: p, n: 2}
	h.start()
	expectBatchesAnyOrder(t, h.rec.take(), "A=0/good", "B=0/good")
	panics.Store(true)
	good.Set("B", plc.IntValue(plc.Int, 5))
	h.tick(100 * time.Millisecond)
	expectBatchesAnyOrder(t, h.rec.take(), "A=<none>/not read", "B=5/good")
	panics.Store(false)
	h.tick(100 * time.Millisecond)
	expectBatches(t, h.rec.take(), "A=0/good")
	s := h.stats("fast")
	if s.ReadErrors != 1 || s.Scans != 6 || len(s.Devices) != 2 || s.Devices[0].Device != "d" || s.Devices[0].ReadErrors != 1 ||
		s.Devices[0].Scans != 3 || s.Devices[1].ReadErrors != 0 || s.Devices[1].Scans != 3 {
		t.Fatalf("stats = %+v, want one failed read of device d in three scans of each device", s)
	}
	es := logs.FilterMessage("read failed").All()
	if len(es) != 1 || es[0].ContextMap()["device"] != "d" || !strings.Contains(es[0].ContextMap()["stack"].(string), "panicReader") ||
		!strings.Contains(es[0].ContextMap()["error"].(string), "index out of range in a PDU parser") {
		t.Fatalf("logs = %+v, want one warning naming the device, the panic and its stack", es)
	}
}

// waitLoops waits until n scan loops wait on the fake clock. A loop that
// never comes back (held up behind another device's hanging read) fails
// the test after a generous guard instead of hanging it; nothing is timed.
func waitLoops(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() { clk.BlockUntil(n); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for range n { // let the waiting goroutine go
			tm := clk.NewTimer(time.Hour)
			defer tm.Stop()
		}
		<-done
		t.Fatalf("fewer than %d scan loops came back to wait for their next tick", n)
	}
}

// A device whose reads hang (a PLC behind a dead link, until the driver's
// timeout) delays only its own tags: the other device of the same scan
// group goes on being scanned and reported at the group's rate, and the
// hanging device's tags are reported once its read returns.
func TestPollerHangingDeviceDoesNotDelayTheOthersInItsGroup(t *testing.T) {
	groups := []plc.ScanGroup{{Name: "fast", Rate: 100 * time.Millisecond, FullRefresh: plc.NoFullRefresh}}
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "a", Driver: plctest.DriverName}, {Name: "b", Driver: plctest.DriverName}},
		Groups:  groups,
		Tags: []plc.Tag{
			{Name: "A1", Device: "a", Address: "A1", Type: plc.TypeInt, Group: "fast"},
			{Name: "A2", Device: "a", Address: "A2", Type: plc.TypeInt, Group: "fast"},
			{Name: "B1", Device: "b", Address: "B1", Type: plc.TypeInt, Group: "fast"},
		},
	}
	clk := clock.NewFake(t0)
	devA, devB := plctest.New(plctest.WithNow(clk.Now)), plctest.New(plctest.WithNow(clk.Now))
	rec := &recorder{}
	p, err := plc.NewPoller(db, map[string]plc.Driver{"a": devA, "b": devB}, rec, plc.WithPollerClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clk, drv: devB, rec: rec, p: p, n: loops(p)}
	if h.n != 2 {
		t.Fatalf("%d scan loops, want one per device", h.n)
	}
	h.start()
	expectBatchesAnyOrder(t, h.rec.take(), "A1=0/good A2=0/good", "B1=0/good")

	entered, release := make(chan struct{}), make(chan struct{})
	devA.SetReadHook(func(ctx context.Context) error {
		select {
		case entered <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	devA.Set("A1", plc.IntValue(plc.Int, 7))
	devB.Set("B1", plc.IntValue(plc.Int, 1))
	clk.Advance(100 * time.Millisecond) // t = 100 ms: a's read starts and hangs
	<-entered
	for k := int64(1); k <= 5; k++ { // t = 100 … 500 ms
		if k > 1 {
			devB.Set("B1", plc.IntValue(plc.Int, k))
			clk.Advance(100 * time.Millisecond)
		}
		waitLoops(t, clk, 1) // b scanned, reported and waits for its next tick
		expectBatches(t, h.rec.take(), "B1="+strconv.FormatInt(k, 10)+"/good")
		s := h.stats("fast")
		if a, b := s.Devices[0], s.Devices[1]; a.Device != "a" || a.Scans != 1 || b.Device != "b" || b.Scans != uint64(k)+1 ||
			b.Overruns != 0 || !b.LastScan.Equal(t0.Add(time.Duration(k)*100*time.Millisecond)) {
			t.Fatalf("at tick %d while a hangs: %+v", k, s.Devices)
		}
		if b, ok := p.Latest("B1"); !ok || b.Value.String() != strconv.FormatInt(k, 10) {
			t.Fatalf("Latest(B1) = %+v at tick %d", b, k)
		}
	}

	// a's read returns at 500 ms: its tags are reported, the ticks at
	// 200, 300 and 400 ms it missed count as its overruns, and it scans
	// again at once for the tick due at 500 ms.
	devA.SetReadHook(nil)
	close(release)
	waitLoops(t, clk, 2)
	expectBatches(t, h.rec.take(), "A1=7/good")
	s := h.stats("fast")
	if a := s.Devices[0]; a.Scans != 3 || a.Overruns != 3 || a.LastScanDuration != 0 || !a.LastScan.Equal(t0.Add(500*time.Millisecond)) {
		t.Fatalf("a after its hanging read: %+v", a)
	}
	if s.Overruns != 3 || s.Scans != 9 || s.ReadErrors != 0 || s.SamplesEmitted != 3+5+1 {
		t.Fatalf("group: %+v", s)
	}
	if a, _ := p.Latest("A1"); a.Value.String() != "7" || !a.Time.Equal(t0.Add(500*time.Millisecond)) {
		t.Fatalf("Latest(A1) = %+v", a)
	}

	// Both devices are back in step on the group's grid.
	devA.Set("A2", plc.IntValue(plc.Int, 2))
	devB.Set("B1", plc.IntValue(plc.Int, 6))
	h.tick(100 * time.Millisecond) // t = 600 ms
	expectBatchesAnyOrder(t, h.rec.take(), "A2=2/good", "B1=6/good")
	snap := p.Snapshot(nil)
	if len(snap) != 3 || snap[0].Tag != "A1" || snap[1].Value.String() != "2" || snap[2].Value.String() != "6" {
		t.Fatalf("Snapshot = %+v", snap)
	}
}
