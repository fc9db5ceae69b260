package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

// buildBinary builds one of kiln's commands into dir.
func buildBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "./"+pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// process is a kiln binary started by the test, with its output lines.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

// startProcess runs bin in dir and collects stdout and stderr lines.
func startProcess(t *testing.T, dir, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
	}()
	go func() { _ = p.cmd.Wait(); _ = w.Close() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitMatch waits up to 60 s for a line matching re and returns its
// first group.
func (p *process) waitMatch(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited:\n%s", p.cmd.Path, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line matching %s within 60s:\n%s", p.cmd.Path, re, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape polls base/metrics up to 60 s until it exports the family want,
// and returns the names of every sample it exports.
func scrape(t *testing.T, base, want string) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		names := map[string]bool{}
		if resp, err := http.Get(base + "/metrics"); err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				l := sc.Text()
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				names[l[:strings.IndexAny(l, "{ ")]] = true
			}
			resp.Body.Close()
		}
		if names[want] {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/metrics: no %s within 60s (has %d names)", base, want, len(names))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var (
	bannerRE    = regexp.MustCompile(`HTTP API\s+(http://\S+?)/?\n`)
	aiMonitorRE = regexp.MustCompile(`API on (http://[0-9.:]+)/api/status`)
	ingestorRE  = regexp.MustCompile(`"msg":"http: serving".*?"url":"(http://[^"]+)"`)
)

// exportedMetrics starts the binaries as a user would (the gateway's demo
// with the embedded store and with a Pulsar uplink, the AI monitor's demo,
// the ingestor on a Pulsar broker with the embedded store) and returns
// every metric name their /metrics export.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	bins := t.TempDir()
	gw := buildBinary(t, bins, "examples/edge-gateway")
	ai := buildBinary(t, bins, "examples/ai-monitor")
	ing := buildBinary(t, bins, "examples/cloud-ingestor")
	broker, err := pulsartest.New(pulsartest.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })

	all := map[string]bool{}
	add := func(names map[string]bool) {
		for n := range names {
			all[n] = true
		}
	}
	work := t.TempDir()
	p := startProcess(t, work, gw, "-listen", "127.0.0.1:0", "-data", filepath.Join(work, "embedded"))
	add(scrape(t, p.waitMatch(t, bannerRE), "kiln_plc_poller_scans_total"))
	p = startProcess(t, work, gw, "-listen", "127.0.0.1:0", "-data", filepath.Join(work, "uplink"), "-transport", "pulsar",
		"-pulsar-url", broker.URL(), "-tenant", "acme", "-topic", "persistent://acme/plant-1/samples")
	add(scrape(t, p.waitMatch(t, bannerRE), "kiln_forward_lag_records"))
	p = startProcess(t, work, ai, "-listen", "127.0.0.1:0")
	add(scrape(t, p.waitMatch(t, aiMonitorRE), "kiln_ai_monitor_module_state"))

	tenants := filepath.Join(work, "tenants.yaml")
	cfg := filepath.Join(work, "ingestor.yaml")
	if err := os.WriteFile(tenants, []byte("tenants:\n  - {id: acme, namespaces: [plant-1]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("tenants: %s\npulsar:\n  url: %s\nstore:\n  sqlite:\n    path: %s\nhttp:\n  listen: 127.0.0.1:0\n",
		tenants, broker.URL(), filepath.Join(work, "cloud.db"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startProcess(t, work, ing, "-config", cfg)
	add(scrape(t, p.waitMatch(t, ingestorRE), "kiln_ingest_pending_messages"))
	return all
}

// metricNames parses a PromQL expression and returns the metric names
// its selectors name.
func metricNames(expr string) ([]string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

// dashboardExprs returns every target expression of a Grafana dashboard.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: a dashboard needs a uid, a title and panels", path)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// TestDashboardsAndAlertsNameOnlyExportedMetrics parses every PromQL
// expression of the Grafana dashboards and the alert rules and checks
// each metric it names is on a kiln binary's /metrics.
func TestDashboardsAndAlertsNameOnlyExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	defined := definedMetrics(t)
	onEvent := map[string]bool{}
	defer func() {
		t.Logf("named metrics defined in the source but not on /metrics until their first event: %v", slices.Sorted(maps.Keys(onEvent)))
	}()
	files, err := filepath.Glob(filepath.Join("..", "grafana", "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	exprs := map[string][]string{}
	for _, f := range files {
		exprs[filepath.Base(f)] = dashboardExprs(t, f)
	}
	b, err := os.ReadFile(filepath.Join("..", "prometheus", "kiln-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["kiln-rules.yaml"] = append(exprs["kiln-rules.yaml"], r.Expr)
		}
	}
	for _, file := range slices.Sorted(func(y func(string) bool) {
		for k := range exprs {
			if !y(k) {
				return
			}
		}
	}) {
		for _, e := range exprs[file] {
			names, err := metricNames(e)
			if err != nil {
				t.Errorf("%s: %q: %v", file, e, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s: %q names no metric", file, e)
			}
			for _, n := range names {
				switch {
				case exported[n]:
				case defined[family(n)]:
					// A vector without children yet: exported from the
					// first event of its kind (a dead letter, an alarm).
					onEvent[n] = true
				default:
					t.Errorf("%s: %q: no kiln binary exports %s, nor does kiln's source define it", file, e, n)
				}
			}
		}
	}
}

// family is the metric family of a sample name: a histogram's _bucket,
// _sum and _count are its samples.
func family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}

// metricLiteral is a metric name written as a Go string literal.
var metricLiteral = regexp.MustCompile(`"(kiln_[a-z0-9_]+)"`)

// definedMetrics returns the kiln_ metric names written as string
// literals in kiln's non-test Go source, where its collectors define them
// (a vector has no sample until it has a label set, so a scrape misses
// the families whose events have not happened).
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	root := filepath.Join("..", "..")
	names := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "bench" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricLiteral.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Collectors that build their names from a prefix describe them.
	descs := make(chan *prometheus.Desc, 64)
	go func() { supervise.NewMetrics().Describe(descs); close(descs) }()
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

var fqName = regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)

func TestMetricNamesFindsEverySelector(t *testing.T) {
	names, err := metricNames(`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) / on() b + c{x="y"}`)
	if err != nil || !slices.Equal(names, []string{"a_bucket", "b", "c"}) {
		t.Errorf("metricNames = %v, %v", names, err)
	}
	if _, err := metricNames("rate(a[5m]"); err == nil {
		t.Error("a malformed expression parsed")
	}
}
