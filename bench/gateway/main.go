//go:build linux

// Command gateway measures the edge gateway's whole data path: a simulated
// S7 PLC (plcsim) with N tags that all change every 100 ms, the edge
// gateway as its own process (poller → spool → forwarder → Pulsar), the
// in-process broker (pulsartest), and replicas of the cloud ingestor
// (package ingest) writing every sample to PostgreSQL
// through pgstore. It prints a table: the samples/s offered and
// sustained into PostgreSQL, the latency from the PLC change to the
// committed row (p50, p99), and the gateway's RSS and CPU.
//
//	go run ./bench/gateway -tags 10000,50000,100000 -duration 30s
//
// Every tag is a DINT counter that the plant steps once per 100 ms, so a
// sample's value names the step that produced it and the latency runs from
// that step's start to the commit of the sample's row.
//
// The target is 50,000 samples/s sustained with p99 < 1 s. When N tags
// changing every 100 ms offer more than -target samples/s, the size gets a
// second row offering about -target: the same N tags (still scanned every
// 100 ms) changing every N/target seconds (2 s at 100,000 tags). The last
// column says whether a row met the target: p99 < 1 s (so the path keeps
// up) and stored ≥ 90 % of the target samples/s (a window holds whole
// steps of N samples and the last one may still be in flight at its end).
//
// -gomemlimit runs the gateway with that GOMEMLIMIT; without it the gateway
// gets no GOMEMLIMIT at all (even if this runner has one) and sets its own
// automatic soft memory limit, which the "soft limit" column shows.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

const (
	tenantID = "bench"
	topic    = "persistent://bench/plant/samples"
	period   = 100 * time.Millisecond
	perGroup = 10_000 // tags per scan group
	perDB    = 10_000 // DINT tags per data block (40,000 bytes)
)

// Settings from the flags.
var (
	maxInFlight, maxPending, replicas int
	profileDir, memLimit              string
)

func main() {
	sizes := flag.String("tags", "10000,50000,100000", "comma-separated tag counts")
	duration := flag.Duration("duration", 30*time.Second, "measured time per size")
	warmup := flag.Duration("warmup", 10*time.Second, "time before measuring")
	conns := flag.Int("s7-connections", 4, "S7 connections of the gateway's driver")
	flag.IntVar(&maxInFlight, "max-in-flight", 64, "the gateway's transport.forward.max_in_flight (messages of up to 4096 samples)")
	flag.IntVar(&maxPending, "max-pending", 256, "the gateway's transport.pulsar.max_pending")
	flag.IntVar(&replicas, "replicas", 2, "cloud ingestor replicas")
	flag.StringVar(&profileDir, "heap-profiles", "", "save the gateway's heap profile at the end of each size in this directory")
	flag.StringVar(&memLimit, "gomemlimit", "", "GOMEMLIMIT of the gateway process (e.g. 120MiB; empty: unset, so the gateway sets its automatic soft limit)")
	target := flag.Float64("target", 50_000, "samples/s the path must sustain with p99 < 1 s; sizes offering more at 100 ms get a row offering this much (0: no extra rows)")
	flag.Parse()
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "gateway bench: bad -tags %q\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := run(ns, *target, *warmup, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "gateway bench:", err)
		os.Exit(1)
	}
}

type result struct {
	tags                 int
	period               time.Duration // how often every tag changes
	met                  bool          // the target held
	offered, sustained   float64
	p50, p99             time.Duration
	rssMax, rssAvg, heap float64 // MiB
	softLimit            string  // the gateway's logged soft memory limit and its source
	cpu                  float64 // cores
	lag                  int64   // samples not stored at the end of the window
	overruns             string
}

func run(ns []int, target float64, warmup, duration time.Duration, conns int) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "kiln-gwbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "edge-gateway")
	fmt.Fprintln(os.Stderr, "building the edge gateway (production build, -tags nodemo) …")
	if out, err := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, "./examples/edge-gateway").CombinedOutput(); err != nil {
		return fmt.Errorf("build (run from the repository root): %v\n%s", err, out)
	}
	cluster, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	var results []result
	for _, n := range ns {
		periods := []time.Duration{period}
		if target > 0 && float64(n)/period.Seconds() > target {
			periods = append(periods, time.Duration(float64(n)/target*float64(time.Second)).Round(period))
		}
		for _, every := range periods {
			fmt.Fprintf(os.Stderr, "%d tags changing every %v …\n", n, every)
			r, err := runOne(ctx, cluster, bin, work, n, every, warmup, duration, conns)
			if err != nil {
				return fmt.Errorf("%d tags every %v: %w", n, every, err)
			}
			// A window holds whole steps and the last may still be in
			// flight at its end: allow 10 % below the target.
			r.met = target > 0 && r.sustained >= 0.9*target && r.p99 < time.Second
			results = append(results, r)
		}
	}
	limit := "unset (the gateway's automatic soft limit)"
	if memLimit != "" {
		limit = memLimit
	}
	fmt.Printf("\nEdge gateway data path: N DINT tags scanned every 100 ms, changing every period, s7sim → edge-gateway (own process, %d S7 connections, GOMEMLIMIT %s) → pulsartest → %d cloud ingestors → pgstore; %v measured after %v warm-up. Target: %.0f samples/s sustained with p99 < 1 s.\n\n", conns, limit, replicas, duration, warmup, target)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "tags\t change every\t offered samples/s\t stored samples/s\t change→row p50\t p99\t gateway RSS max\t RSS avg\t Go heap in use\t soft limit\t gateway CPU\t backlog at end\t scan overruns\t target met\t")
	for _, r := range results {
		met := "no"
		if r.met {
			met = "yes"
		}
		fmt.Fprintf(tw, "%d\t %v\t %.0f\t %.0f\t %v\t %v\t %.0f MiB\t %.0f MiB\t %.0f MiB\t %s\t %.2f cores\t %d\t %s\t %s\t\n", r.tags, r.period, r.offered, r.sustained,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.rssMax, r.rssAvg, r.heap, r.softLimit, r.cpu, r.lag, r.overruns, met)
	}
	return tw.Flush()
}

// tagList is the plant: n DINT counters, perDB per data block, in groups
// of perGroup at 100 ms without full refreshes.
func tagList(n int) (*sim.TagList, error) {
	var b strings.Builder
	b.WriteString("groups:\n")
	for g := 0; g < (n+perGroup-1)/perGroup; g++ {
		fmt.Fprintf(&b, "  - {name: g%d, rate: 100ms, full_refresh: \"off\"}\n", g)
	}
	b.WriteString("tags:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: T%06d, address: DB%d.DBD%d, type: DINT, group: g%d, signal: {kind: counter}}\n",
			i, 1+i/perDB, 4*(i%perDB), i/perGroup)
	}
	return sim.ParseTagList("bench.yaml", []byte(b.String()))
}

// steps records when each step of the plant started: the value a counter
// holds after step k is its start value plus k.
type steps struct {
	mu sync.RWMutex
	at []time.Time
}

func (s *steps) add(t time.Time) {
	s.mu.Lock()
	s.at = append(s.at, t)
	s.mu.Unlock()
}

func (s *steps) time(k int64) (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k < 1 || int(k) > len(s.at) {
		return time.Time{}, false
	}
	return s.at[k-1], true
}

// histogram counts latencies in 1 ms buckets up to a minute.
type histogram struct {
	mu sync.Mutex
	b  [60_001]uint64
	n  uint64
}

func (h *histogram) add(d time.Duration) {
	i := min(max(int(d/time.Millisecond), 0), len(h.b)-1)
	h.mu.Lock()
	h.b[i]++
	h.n++
	h.mu.Unlock()
}

func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.b {
		seen += c
		if seen > want {
			return time.Duration(i) * time.Millisecond
		}
	}
	return time.Minute
}

func runOne(ctx context.Context, cluster *pgtest.Cluster, bin, work string, n int, every, warmup, duration time.Duration, conns int) (result, error) {
	res := result{tags: n, period: every}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir := filepath.Join(work, fmt.Sprintf("%d-%v", n, every))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	db, err := cluster.CreateDB(ctx)
	if err != nil {
		return res, err
	}
	st, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN, MaxConns: 8})
	if err != nil {
		return res, err
	}
	defer st.Close()
	broker, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		return res, err
	}
	defer broker.Close()

	list, err := tagList(n)
	if err != nil {
		return res, err
	}
	plant, err := sim.New(sim.Config{NoOPCUA: true}, list)
	if err != nil {
		return res, err
	}
	defer plant.Close()
	// The counters hold a start value before the first Step: the value
	// after step k is base+k.
	v0, err := plant.Get("T000000")
	if err != nil {
		return res, err
	}
	base, _ := v0.Int()
	pdb, err := list.PointDB(plant.S7Addr(), "", 2)
	if err != nil {
		return res, err
	}
	pdb.Devices = nil
	var buf bytes.Buffer
	if err := sim.WritePointDB(&buf, pdb); err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tags.yaml"), buf.Bytes(), 0o644); err != nil {
		return res, err
	}
	cfg := map[string]any{
		"id": "bench-gw", "tenant": tenantID, "demo": "off", "data_dir": filepath.Join(dir, "data"),
		"devices":   []map[string]any{{"name": sim.DeviceS7, "driver": "s7", "endpoint": plant.S7Addr(), "options": map[string]string{"connections": strconv.Itoa(conns)}}},
		"tag_files": []string{"tags.yaml"},
		"transport": map[string]any{"kind": "pulsar", "command_topic": "off",
			"pulsar":  map[string]any{"topic": topic, "client": map[string]any{"url": broker.URL()}, "max_pending": maxPending},
			"forward": map[string]any{"max_in_flight": maxInFlight}},
		"http": map[string]any{"listen": "127.0.0.1:0", "pprof": true},
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return res, err
	}
	cfgFile := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgFile, y, 0o644); err != nil {
		return res, err
	}

	// The consumer: every batch into PostgreSQL, latencies recorded.
	var (
		st8    steps
		hist   histogram
		stored atomic.Int64
		inWin  atomic.Bool
	)
	// The cloud half: replicas of the cloud ingestor on one shared
	// subscription, writing through a store that records each sample's
	// latency once its transaction has committed.
	reg, err := tenant.Parse([]byte("tenants:\n  - id: "+tenantID+"\n    namespaces: [plant]\n"), "tenants.yaml")
	if err != nil {
		return res, err
	}
	ms := &measuringStore{Store: st, after: func(samples []plc.Sample) {
		now := time.Now()
		if !inWin.Load() {
			return
		}
		var k int64
		for _, s := range samples {
			if !s.Quality.IsGood() {
				continue
			}
			v, _ := s.Value.Int()
			if t, ok := st8.time(v - base); ok {
				hist.add(now.Sub(t))
			}
			k++
		}
		stored.Add(k)
	}}
	cc := pulsar.ClientConfig{URL: broker.URL()}
	subDone := make(chan error, replicas)
	for r := range replicas {
		ing, err := ingest.New(ingest.Config{}, reg, ms,
			func(_ context.Context, topic string) (transport.Subscriber, error) {
				return pulsar.NewSubscriber(pulsar.SubscriberConfig{Client: cc, Topic: topic, Subscription: "kiln-ingestor", Type: pulsar.Shared, Earliest: true})
			},
			func(_ context.Context, topic string) (transport.Publisher, error) {
				return pulsar.NewPublisher(pulsar.PublisherConfig{Client: cc, Topic: topic, ProducerName: fmt.Sprintf("ingestor-%d", r)})
			})
		if err != nil {
			return res, err
		}
		go func() { subDone <- ing.Serve(ctx) }()
	}

	// The gateway, its own process.
	cmd := exec.CommandContext(ctx, bin, "-config", cfgFile)
	cmd.Dir = dir
	// Without -gomemlimit the gateway must not inherit a GOMEMLIMIT from
	// here: its own automatic limit is what is measured then.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") })
	if memLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+memLimit)
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	// The plant steps every period, recording when.
	plantDone := make(chan struct{})
	go func() {
		defer close(plantDone)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case t := <-tk.C:
				st8.add(t)
				_ = plant.Step()
			}
		}
	}()

	time.Sleep(warmup)
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err == nil && strings.Contains(readFile(filepath.Join(dir, "gateway.log")), "edge-gateway:") {
		err = errors.New("gateway failed")
	}
	if err != nil {
		return res, fmt.Errorf("%w; gateway log:\n%s", err, readFile(filepath.Join(dir, "gateway.log")))
	}
	st8.mu.RLock()
	step0 := len(st8.at)
	st8.mu.RUnlock()
	inWin.Store(true)
	start := time.Now()
	var rssSum, rssN float64
	for time.Since(start) < duration {
		time.Sleep(250 * time.Millisecond)
		if rss, err := rssMiB(cmd.Process.Pid); err == nil {
			res.rssMax = max(res.rssMax, rss)
			rssSum += rss
			rssN++
		}
	}
	inWin.Store(false)
	elapsed := time.Since(start)
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	st8.mu.RLock()
	stepsDone := len(st8.at) - step0
	st8.mu.RUnlock()
	res.offered = float64(stepsDone*n) / elapsed.Seconds()
	res.sustained = float64(stored.Load()) / elapsed.Seconds()
	res.p50, res.p99 = hist.quantile(0.5), hist.quantile(0.99)
	res.cpu = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	if rssN > 0 {
		res.rssAvg = rssSum / rssN
	}
	res.lag = int64(stepsDone*n) - stored.Load()
	res.overruns = overruns(dir)
	res.heap = heapMiB(dir)
	res.softLimit = softLimit(dir)
	if profileDir != "" {
		if err := saveHeapProfile(dir, filepath.Join(profileDir, fmt.Sprintf("gateway-heap-%d-%v.pprof", n, every))); err != nil {
			return res, err
		}
	}
	cancel()
	<-plantDone
	for range replicas {
		<-subDone
	}
	return res, nil
}

// rssMiB reads a process's resident set size.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// cpuTime reads a process's user plus system CPU time.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+stime) * time.Second / hz, nil
}

// gatewayURL returns the gateway's HTTP address, from its log.
func gatewayURL(dir string) string {
	var base string
	for _, l := range strings.Split(readFile(filepath.Join(dir, "gateway.log")), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "HTTP API"); ok {
			base = strings.TrimSuffix(strings.TrimSpace(rest), "/")
		}
	}
	return base
}

// softLimitRE matches the fields of the gateway's "soft memory limit" log line.
var softLimitRE = regexp.MustCompile(`"(source|limit)": "([^"]*)"`)

// softLimit returns the soft memory limit the gateway logged it set, with
// its source ("119.4 MiB (auto)"), or "?".
func softLimit(dir string) string {
	for _, l := range strings.Split(readFile(filepath.Join(dir, "gateway.log")), "\n") {
		if !strings.Contains(l, "soft memory limit") {
			continue
		}
		f := map[string]string{}
		for _, m := range softLimitRE.FindAllStringSubmatch(l, -1) {
			f[m[1]] = m[2]
		}
		return f["limit"] + " (" + f["source"] + ")"
	}
	return "?"
}

// heapMiB reads the Go heap in use from the gateway's /metrics.
func heapMiB(dir string) float64 {
	resp, err := http.Get(gatewayURL(dir) + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v / (1 << 20)
		}
	}
	return 0
}

// overruns asks the gateway how many scans it made and how many ticks it
// skipped because a scan overran.
func overruns(dir string) string {
	resp, err := http.Get(gatewayURL(dir) + "/api/status")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	var st struct {
		Poller []struct{ Scans, Overruns uint64 }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "?"
	}
	var scans, over uint64
	for _, g := range st.Poller {
		scans += g.Scans
		over += g.Overruns
	}
	return fmt.Sprintf("%d of %d", over, scans+over)
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// measuringStore is the store the ingestors write to: after each committed
// WriteBatches it hands the samples of each batch to after.
type measuringStore struct {
	store.Store
	after func([]plc.Sample)
}

func (m *measuringStore) WriteBatches(ctx context.Context, tenant string, batches []store.Batch) (store.WriteResult, error) {
	r, err := m.Store.WriteBatches(ctx, tenant, batches)
	if err == nil {
		for _, b := range batches {
			m.after(b.Samples)
		}
	}
	return r, err
}

// saveHeapProfile fetches the gateway's heap profile into file.
func saveHeapProfile(dir, file string) error {
	resp, err := http.Get(gatewayURL(dir) + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
