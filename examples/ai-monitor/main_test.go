package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/failsafe"
)

func TestMain(m *testing.M) {
	// The monitor runs this binary as its demo modules.
	if len(os.Args) > 1 && os.Args[1] == "demo-module" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

var apiRE = regexp.MustCompile(`API on (http://[0-9.:]+)/api/status`)

// lockedBuffer is a bytes.Buffer safe to read while run writes it.
type lockedBuffer struct {
	ch  chan struct{}
	buf bytes.Buffer
}

func newLockedBuffer() *lockedBuffer {
	b := &lockedBuffer{ch: make(chan struct{}, 1)}
	b.ch <- struct{}{}
	return b
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.buf.String()
}

func TestDemoRunsAndHandsControlToItsModules(t *testing.T) {
	out, errOut := newLockedBuffer(), newLockedBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-demo-stable", "500ms"}, out, errOut) }()

	var api string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := apiRE.FindStringSubmatch(out.String()); m != nil {
			api = m[1]
		}
		if api != "" && strings.Count(out.String(), "hand_back") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo did not hand control to both modules:\n%s\n%s", out, errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(api + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Tree struct {
			Children []struct{ Name, State string }
		}
		Modules []failsafe.ModuleStatus
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Modules) != 2 || st.Modules[0].Name != "combustion" || st.Modules[1].Name != "drying" ||
		len(st.Tree.Children) != 2 || st.Tree.Children[0].State != "running" {
		t.Fatalf("status = %+v", st)
	}
	resp, err = http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`kiln_ai_monitor_handovers_total{kind="hand_back",module="combustion"} 1`, "kiln_supervise_starts_total", "kiln_s7_requests_total", "kiln_build_info{"} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if !strings.Contains(errOut.String(), "kiln ai-monitor") || !strings.Contains(errOut.String(), `"version"`) {
		t.Errorf("the first log line lacks the build:\n%s", errOut)
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &out, &errb); code != 0 {
		t.Fatalf("-version: exit %d\n%s", code, errb.String())
	}
	if want := buildinfo.Get().String() + "\n"; out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}

func TestConfigErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "monitor.yaml")
	if err := os.WriteFile(path, []byte("modules:\n  - name: a\n    proces: {path: /bin/true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-config", path}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if want := path + `:3: modules[0].process: unknown field "proces"`; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
}

// plantDir starts a simulated PLC with the tag AI.Enable and writes its
// point database as plant.yaml into a new directory.
func plantDir(t *testing.T) (string, *sim.Plant) {
	t.Helper()
	list, err := sim.ParseTagList("tags.yaml", []byte("tags:\n  - {name: AI.Enable, address: DB10.DBX0.0, type: BOOL, access: rw, initial: \"true\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plant, err := sim.New(sim.Config{NoOPCUA: true}, list)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plant.Close() })
	db, err := plant.PointDB()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var pdb bytes.Buffer
	if err := sim.WritePointDB(&pdb, db); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plant.yaml"), pdb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, plant
}

func TestConfigFileAgainstAPlant(t *testing.T) {
	dir, plant := plantDir(t)
	cfg := `listen: 127.0.0.1:0
points: [plant.yaml]
modules:
  - name: sleeper
    process: {path: /bin/sleep, args: ["60"]}
    fail_safe:
      write: [{tag: AI.Enable, value: false}]
`
	path := filepath.Join(dir, "monitor.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-config", path, "-duration", "1s"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "API on http://127.0.0.1:") {
		t.Errorf("stdout %q", out.String())
	}
	// Stopping the monitor left the plant on its fail-safe values.
	if v, err := plant.Get("AI.Enable"); err != nil || v.Bool() {
		t.Errorf("AI.Enable = %v, %v after the monitor stopped; want false", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ai-monitor-events")); err != nil {
		t.Errorf("no embedded event spool: %v", err)
	}
}
