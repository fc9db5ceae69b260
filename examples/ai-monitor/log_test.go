package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/failsafe"
)

// A module that keeps crashing makes the monitor warn (unhealthy, the PLC
// given control) and finally declare it failed: expected events of a
// plant, logged without Go stack traces, and with reasons that name the
// exit status, not the program's path (here, as under go run, a go build
// cache's).
func TestCrashingModuleLogsNoStackTracesAndReasonsNoPaths(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := plantDir(t)
	// The module is the demo module without its required flags: it
	// exits with status 2 at once, every time.
	cfg := `listen: 127.0.0.1:0
points: [plant.yaml]
modules:
  - name: crasher
    process: {path: "` + self + `", args: [demo-module]}
    restart: {intensity: 2, period: 1m}
    fail_safe:
      write: [{tag: AI.Enable, value: false}]
`
	path := filepath.Join(dir, "monitor.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	tee := zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) })
	out, errOut := newLockedBuffer(), newLockedBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-config", path}, out, errOut, tee) }()

	deadline := time.Now().Add(30 * time.Second)
	for logs.FilterMessage("module declared failed; it stays down until reset").Len() == 0 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("module not declared failed within 30s:\n%s", errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var reasons []string
	if m := apiRE.FindStringSubmatch(out.String()); m == nil {
		t.Errorf("no API address in %q", out)
	} else {
		reasons = append(reasons, statusReasons(t, m[1])...)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}

	warns := 0
	for _, e := range logs.All() {
		if e.Level == zapcore.WarnLevel {
			warns++
		}
		if e.Stack != "" && e.Level < zapcore.DPanicLevel {
			t.Errorf("%s %q carries a stack trace:\n%s", e.Level, e.Message, e.Stack)
		}
		if r, ok := e.ContextMap()["reason"].(string); ok {
			reasons = append(reasons, r)
		}
	}
	if warns == 0 || len(reasons) < 2 {
		t.Fatalf("%d WARN entries, reasons %q: the crashes were not logged", warns, reasons)
	}
	for _, r := range reasons {
		if strings.Contains(r, self) || strings.Contains(r, filepath.Dir(self)) || strings.Contains(r, "go-build") {
			t.Errorf("reason %q contains the program's path", r)
		}
	}
	if !strings.Contains(strings.Join(reasons, "\n"), "exit status 2") {
		t.Errorf("reasons %q do not name the exit status", reasons)
	}
}

// statusReasons returns the last failure's and handover's reasons of every
// module in the API's status.
func statusReasons(t *testing.T, api string) []string {
	t.Helper()
	resp, err := http.Get(api + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Modules []failsafe.ModuleStatus }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range st.Modules {
		if m.LastFailure != nil {
			out = append(out, m.LastFailure.Reason)
		}
		if m.LastHandover != nil {
			out = append(out, m.LastHandover.Reason)
		}
	}
	return out
}
