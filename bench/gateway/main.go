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
// The plant writes each step straight into the simulator's data blocks
// (one write per block), so it costs next to nothing; the table reports
// the CPU of the gateway (and the share of it its garbage collector
// takes, from a CPU profile of the window), of the plant's steps, of this
// whole runner (plant, broker, ingestors) and of PostgreSQL.
// -baseline REV builds the gateway at another git revision as well and
// runs every row with both, alternating (-rounds times):
//
//	go run ./bench/gateway -tags 100000 -target 200000 -target-only -baseline main -rounds 2
//
// -gomemlimit runs the gateway with that GOMEMLIMIT; without it the gateway
// gets no GOMEMLIMIT at all (even if this runner has one) and sets its own
// automatic soft memory limit, which the "soft limit" column shows.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
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
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
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
	profileDir, memLimit, cpuProfiles string
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
	flag.StringVar(&cpuProfiles, "cpu-profiles", "", "save the gateway's CPU profile of each measured window in this directory")
	flag.StringVar(&memLimit, "gomemlimit", "", "GOMEMLIMIT of the gateway process (e.g. 120MiB; empty: unset, so the gateway sets its automatic soft limit)")
	target := flag.Float64("target", 50_000, "samples/s the path must sustain with p99 < 1 s; sizes offering more at 100 ms get a row offering this much (0: no extra rows)")
	only := flag.Bool("target-only", false, "run only the row offering -target (or the 100 ms row if that offers less)")
	baseline := flag.String("baseline", "", "also build the gateway at this git revision and run every row with it too, alternating with the working tree's")
	rounds := flag.Int("rounds", 1, "runs of every row (and gateway)")
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
	if err := run(ns, *target, *only, *baseline, *rounds, *warmup, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "gateway bench:", err)
		os.Exit(1)
	}
}

type result struct {
	gateway              string // which build
	tags                 int
	period               time.Duration // how often every tag changes
	met                  bool          // the target held
	offered, sustained   float64
	p50, p99             time.Duration
	rssMax, rssAvg, heap float64 // MiB
	softLimit            string  // the gateway's logged soft memory limit and its source
	cpu                  float64 // cores
	gcShare              float64 // the gateway's GC CPU over its CPU (gctrace)
	plantCPU, runnerCPU  float64 // cores: the plant's steps; the whole runner (plant, broker, ingestors)
	pgCPU                float64 // cores: every PostgreSQL process
	lag                  int64   // samples not stored at the end of the window
	overruns             string
}

func run(ns []int, target float64, only bool, baseline string, rounds int, warmup, duration time.Duration, conns int) error {
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
	bins := []gatewayBin{{"this tree", bin}}
	if baseline != "" {
		b, err := buildAt(work, baseline)
		if err != nil {
			return err
		}
		bins = append([]gatewayBin{{baseline, b}}, bins...)
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
			if only {
				periods = periods[1:]
			}
		}
		for _, every := range periods {
			for round := range rounds {
				for _, gb := range bins {
					fmt.Fprintf(os.Stderr, "%d tags changing every %v, gateway %s, round %d …\n", n, every, gb.name, round+1)
					r, err := runOne(ctx, cluster, gb.path, work, n, every, warmup, duration, conns)
					if err != nil {
						return fmt.Errorf("%d tags every %v: %w", n, every, err)
					}
					r.gateway = gb.name
					// A window holds whole steps and the last may still be in
					// flight at its end: allow 10 % below the target.
					r.met = target > 0 && r.sustained >= 0.9*target && r.p99 < time.Second
					results = append(results, r)
				}
			}
		}
	}
	limit := "unset (the gateway's automatic soft limit)"
	if memLimit != "" {
		limit = memLimit
	}
	fmt.Printf("\nEdge gateway data path: N DINT tags scanned every 100 ms, changing every period, s7sim → edge-gateway (own process, %d S7 connections, GOMEMLIMIT %s) → pulsartest → %d cloud ingestors → pgstore; %v measured after %v warm-up. Target: %.0f samples/s sustained with p99 < 1 s.\n\n", conns, limit, replicas, duration, warmup, target)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "gateway\t tags\t change every\t offered samples/s\t stored samples/s\t change→row p50\t p99\t gateway RSS max\t RSS avg\t Go heap in use\t soft limit\t gateway CPU\t its GC\t plant CPU\t runner CPU\t PostgreSQL CPU\t backlog at end\t scan overruns\t target met\t")
	for _, r := range results {
		met := "no"
		if r.met {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t %d\t %v\t %.0f\t %.0f\t %v\t %v\t %.0f MiB\t %.0f MiB\t %.0f MiB\t %s\t %.2f cores\t %.0f %%\t %.3f cores\t %.2f cores\t %.2f cores\t %d\t %s\t %s\t\n", r.gateway, r.tags, r.period, r.offered, r.sustained,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.rssMax, r.rssAvg, r.heap, r.softLimit, r.cpu, 100*r.gcShare, r.plantCPU, r.runnerCPU, r.pgCPU, r.lag, r.overruns, met)
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
	reg, err := tenant.Parse("tenants.yaml", []byte("tenants:\n  - id: "+tenantID+"\n    namespaces: [plant]\n"))
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

	// The plant steps every period, recording when. A step writes the
	// next counter value of every tag straight into the simulator's data
	// blocks, one WriteBytes per block, which costs the same as the
	// simulator's own Step of counter signals (base+k in every tag) for
	// a small fraction of its CPU; plantCPU is the time spent stepping.
	plantDone := make(chan struct{})
	var plantCPU time.Duration
	go func() {
		defer close(plantDone)
		tk := time.NewTicker(every)
		defer tk.Stop()
		block := make([]byte, 4*perDB)
		for k := int64(1); ; k++ {
			select {
			case <-ctx.Done():
				return
			case t := <-tk.C:
				st8.add(t)
				t0 := time.Now()
				if err := stepPlant(plant.S7(), block, n, base+k); err != nil {
					fmt.Fprintln(os.Stderr, "gateway bench: plant step:", err)
				}
				if inWin.Load() {
					plantCPU += time.Since(t0)
				}
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
	self0, _ := cpuTime(os.Getpid())
	pg0 := postgresCPU(cmd.Process.Pid)
	inWin.Store(true)
	start := time.Now()
	// The gateway's CPU profile of the window gives its GC share.
	cpuProf := filepath.Join(dir, "cpu.pprof")
	if cpuProfiles != "" {
		cpuProf = filepath.Join(cpuProfiles, fmt.Sprintf("gateway-cpu-%d-%v-%d.pprof", n, every, time.Now().Unix()))
	}
	profDone := make(chan error, 1)
	go func() {
		profDone <- saveProfile(dir, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(duration.Seconds())), cpuProf)
	}()
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
	self1, _ := cpuTime(os.Getpid())
	res.runnerCPU = (self1 - self0).Seconds() / elapsed.Seconds()
	res.pgCPU = (postgresCPU(cmd.Process.Pid) - pg0).Seconds() / elapsed.Seconds()
	if err := <-profDone; err != nil {
		return res, err
	}
	if res.gcShare, err = gcShare(cpuProf); err != nil {
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
		if err := saveProfile(dir, "/debug/pprof/heap", filepath.Join(profileDir, fmt.Sprintf("gateway-heap-%d-%v.pprof", n, every))); err != nil {
			return res, err
		}
	}
	cancel()
	<-plantDone
	res.plantCPU = plantCPU.Seconds() / elapsed.Seconds()
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

// saveProfile fetches one of the gateway's profiles (path under its HTTP
// address) into file.
func saveProfile(dir, path, file string) error {
	resp, err := http.Get(gatewayURL(dir) + path)
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

// stepPlant sets every one of the n DINT counters to v, writing each data
// block of perDB tags at once (block is a scratch buffer of 4*perDB bytes).
func stepPlant(srv *s7sim.Server, block []byte, n int, v int64) error {
	for i := range perDB {
		binary.BigEndian.PutUint32(block[4*i:], uint32(int32(v)))
	}
	for db := 0; db*perDB < n; db++ {
		m := min(perDB, n-db*perDB)
		if err := srv.WriteBytes(s7.AreaDB, 1+db, 0, block[:4*m]); err != nil {
			return err
		}
	}
	return nil
}

// gatewayBin is a built gateway and what it was built from.
type gatewayBin struct{ name, path string }

// buildAt builds the edge gateway from the repository at git revision rev
// (exported with git archive into work) and returns the binary's path.
func buildAt(work, rev string) (string, error) {
	src := filepath.Join(work, "src-"+rev)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "building the edge gateway at %s …\n", rev)
	archive := exec.Command("git", "archive", rev)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %v\n%s", rev, err, stderr.Bytes())
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("unpack %s: %w", rev, err)
	}
	bin := filepath.Join(work, "edge-gateway-"+rev)
	build := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, "./examples/edge-gateway")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build at %s: %v\n%s", rev, err, out)
	}
	return bin, nil
}

// postgresCPU sums the CPU time of this process's PostgreSQL processes:
// the postmaster (a child of this runner) and its children, skipping the
// gateway's process tree.
func postgresCPU(gateway int) time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	name := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid], name[pid] = ppid, s[open+1:end]
	}
	self := os.Getpid()
	var total time.Duration
	for pid := range parent {
		if !strings.HasPrefix(name[pid], "postgres") {
			continue
		}
		// A descendant of this runner, not of the gateway.
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == gateway {
				break
			}
			if p == self {
				if d, err := cpuTime(pid); err == nil {
					total += d
				}
				break
			}
		}
	}
	return total
}

// gcShare returns the share of a CPU profile's samples spent in the
// garbage collector: its background mark workers and the assists of
// allocating goroutines.
func gcShare(file string) (float64, error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", file).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pprof %s: %v\n%s", file, err, out)
	}
	var total, gc float64
	for _, l := range strings.Split(string(out), "\n") {
		if m := totalRE.FindStringSubmatch(l); m != nil {
			total = pprofSeconds(m[1], m[2])
		}
		f := strings.Fields(l)
		if len(f) == 6 && (f[5] == "runtime.gcBgMarkWorker" || f[5] == "runtime.gcAssistAlloc") {
			gc += pprofSeconds(strings.TrimRight(f[3], "minus"), strings.TrimLeft(f[3], "0123456789."))
		}
	}
	if total == 0 {
		return 0, nil
	}
	return gc / total, nil
}

// totalRE matches pprof's "Total samples = 5.67s" line.
var totalRE = regexp.MustCompile(`Total samples = ([0-9.]+)(ms|s|us|ns|min)`)

// pprofSeconds converts a pprof figure and its unit to seconds.
func pprofSeconds(v, unit string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return x / 1e3
	case "us":
		return x / 1e6
	case "ns":
		return x / 1e9
	case "min":
		return x * 60
	}
	return x
}
