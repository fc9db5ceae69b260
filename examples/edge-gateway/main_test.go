package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/store/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(removeBinary{m}) }

// removeBinary removes the built binary after the tests.
type removeBinary struct{ m *testing.M }

func (r removeBinary) Run() int {
	code := r.m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	return code
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the gateway once per test binary.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-gw-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "edge-gateway")
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// proc is a running gateway binary.
type proc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	banner string
	stderr *bytes.Buffer
	exited chan error
}

// start runs the binary in work with args and waits for its banner.
func start(t *testing.T, work string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd.Dir = work
	p.cmd.Stderr = p.stderr
	// No inherited GOMEMLIMIT: the gateway's own soft limit is what runs.
	p.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") })
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.exited <- p.cmd.Wait()
	}()
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before serving:\n%s\n%s", p.banner, p.stderr.String())
			}
			p.banner += l + "\n"
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "HTTP API"); ok {
				p.base = strings.TrimSuffix(strings.TrimSpace(rest), "/")
			}
			done = strings.HasPrefix(l, "Stop with")
		case <-timeout:
			t.Fatalf("no banner:\n%s\n%s", p.banner, p.stderr.String())
		}
	}
	go func() {
		for range lines { // drain the rest
		}
	}()
	return p
}

// stop signals the process and waits for it to end.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after %v\n%s", sig, p.stderr.String())
		return nil
	}
}

// waitAllGood waits until every live value reads good and returns how
// many tags there are.
func (p *proc) waitAllGood(t *testing.T) int {
	t.Helper()
	var values struct {
		Values []struct {
			Tag  string `json:"tag"`
			Good bool   `json:"good"`
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/api/values")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(b, &values); err != nil {
				t.Fatalf("values: %v: %s", err, b)
			}
			good := 0
			for _, v := range values.Values {
				if v.Good {
					good++
				}
			}
			if good > 0 && good == len(values.Values) {
				return good
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no good live values: %+v\n%s", values, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one unlabelled metric.
func (p *proc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestNoFlagsServesTheDemo runs the binary as a user would, in an empty
// working directory, with only the port changed: it starts the demo plant,
// serves live values, writes to ./kiln-data and stops cleanly on SIGTERM.
func TestNoFlagsServesTheDemo(t *testing.T) {
	work := t.TempDir()
	p := start(t, work, "-listen", "127.0.0.1:0")
	for _, want := range []string{"demo plant", "kiln-data/spool", "kiln-data/samples.db", "/api/values", "/console/", "demo login     engineer / kiln-demo"} {
		if !strings.Contains(p.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, p.banner)
		}
	}
	if n := p.waitAllGood(t); n < 10 {
		t.Fatalf("only %d tags", n)
	}
	resp, err := http.Get(p.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// The demo login printed in the banner logs in to the console.
	resp, err = http.Post(p.base+"/console/api/login", "application/json", strings.NewReader(`{"user":"engineer","password":"kiln-demo"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("console login: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	for _, f := range []string{"kiln-data/spool", "kiln-data/samples.db"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Error(err)
		}
	}
	// The demo's few tags get the automatic limit's 64 MiB floor, logged.
	for _, want := range []string{"soft memory limit", `"source": "auto"`, `"limit_bytes": 67108864`, `"limit": "64.0 MiB"`} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.stderr.String())
		}
	}
}

// TestSIGKILLLosesNothingSpooled kills the gateway without warning and
// starts it again on the same data directory: every sample it had spooled
// before the kill ends up in the embedded store.
func TestSIGKILLLosesNothingSpooled(t *testing.T) {
	work := t.TempDir()
	p := start(t, work, "-listen", "127.0.0.1:0")
	p.waitAllGood(t)
	time.Sleep(time.Second)
	spooled := p.metric(t, "kiln_gateway_samples_spooled_total") // a lower bound at the kill
	if err := p.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: clean exit")
	}

	p = start(t, work, "-listen", "127.0.0.1:0")
	p.waitAllGood(t)
	deadline := time.Now().Add(20 * time.Second)
	for p.metric(t, "kiln_spool_depth_records") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the spool did not drain after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(work, "kiln-data", "samples.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tags, err := st.Tags(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	for _, tag := range tags {
		s, err := st.Range(ctx, "demo", tag, time.Unix(0, 0), time.Now().Add(time.Hour), 100_000)
		if err != nil {
			t.Fatal(err)
		}
		rows += len(s)
	}
	if float64(rows) < spooled {
		t.Fatalf("%d rows stored, but %v samples were spooled before the kill", rows, spooled)
	}
}

func TestBadTagFileNamesFileLineField(t *testing.T) {
	dir := t.TempDir()
	tags := filepath.Join(dir, "tags.csv")
	if err := os.WriteFile(tags, []byte("name,device,address,type\nKiln1.Temp,plc1,DB1.DBD0,REAL\nKiln1.Speed,plc1,DB1.DBW4,FLOT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(cfg, []byte("devices:\n  - {name: plc1, driver: s7, endpoint: \"127.0.0.1:1\"}\ntag_files: [tags.csv]\nhttp: {listen: \"127.0.0.1:0\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", cfg, "-data", filepath.Join(dir, "data")}, &out, &out)
	if err == nil || !strings.Contains(out.String(), tags+":3: type: ") {
		t.Fatalf("error %v, output:\n%s", err, out.String())
	}
}

func TestHelpDocumentsEveryField(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out, &out)
	if err == nil {
		t.Fatal("-h ran the gateway")
	}
	for _, want := range []string{"-listen", "-config", "tag_files:", "spool:", "max_bytes:", "command_topic:", "publishing_interval:", "memory_limit: 0", "-1: off"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

func TestBadConfigNamesFileLineField(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(f, []byte("id: gw\ndevices:\n  - name: plc1\n    driver: profinet\n    endpoint: 10.0.0.1:102\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", f}, &out, &out)
	if err == nil || !strings.Contains(out.String(), "1 problem in "+f) || !strings.Contains(out.String(), f+":4: devices[0].driver: unknown driver \"profinet\"") {
		t.Fatalf("error %v, output:\n%s", err, out.String())
	}
}

// TestEveryConfigProblemInOneRun: a file with nine mistakes of three
// kinds (unknown fields, wrong kinds, bad settings) shows them all in one
// run, counted, each with file, line and field.
func TestEveryConfigProblemInOneRun(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(f, []byte(`id: gw
tenant: Acme
http: {lsten: ":80", pprof: sometimes}
groups: [{name: g, rate: fast}, {rate: 1ms}]
devices:
  - {name: plc1, driver: s7, endpoint: 10.0.0.5, options: {rack: x}}
demo: maybe
spool: {dri: x}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-config", f}, &out, &out); err == nil {
		t.Fatal("a broken configuration ran")
	}
	for _, want := range []string{
		"9 problems in " + f,
		f + `:3: http.listen: unknown field "lsten"`,
		f + `:3: http.pprof: "sometimes" is not true or false`,
		f + `:4: groups[0].rate: "fast" is not a duration such as 500ms`,
		f + `:8: spool.dir: unknown field "dri"`,
		f + `:2: tenant: `,
		f + `:7: demo: want auto, on or off, not "maybe"`,
		f + `:6: devices[0].options.rack: "x" is not a whole number`,
		f + `:4: groups[1].name: is required`,
		f + `:4: groups[1].rate: 1ms is below 10ms`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
