package failsafe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/failsafe/modulesim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// The test binary is also the demo AI module: the monitor runs it with
// this variable set.
const moduleEnv = "KILN_AI_DEMO_MODULE"

func TestMain(m *testing.M) {
	if os.Getenv(moduleEnv) == "1" {
		os.Exit(modulesim.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// device is the simulated PLC's name in the point database.
const device = "plc1"

const testPoints = `
devices:
  - {name: plc1, driver: s7, endpoint: "%s"}
tags:
  - {name: AI.Heartbeat, device: plc1, address: DB10.DBD0, type: DINT, access: rw}
  - {name: AI.Enable, device: plc1, address: DB10.DBX4.0, type: BOOL, access: rw}
  - {name: AI.Setpoint, device: plc1, address: DB10.DBD8, type: REAL, access: rw, min: 0, max: 1200}
`

// plant is a simulated PLC with the AI tags, its point database and a
// driver to it.
type plant struct {
	t     testing.TB
	srv   *s7sim.Server
	db    *plc.PointDB
	drv   *s7.Driver
	addrs map[string]s7.Address
}

func newPlant(t testing.TB) *plant {
	t.Helper()
	srv, err := s7sim.New(s7sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	db := &plc.PointDB{}
	if err := db.AddYAML("points.yaml", []byte(fmt.Sprintf(testPoints, srv.Addr()))); err != nil {
		t.Fatal(err)
	}
	if err := db.Validate(); err != nil {
		t.Fatal(err)
	}
	p := &plant{t: t, srv: srv, db: db, addrs: map[string]s7.Address{}}
	for _, tag := range db.Tags {
		if p.addrs[tag.Name], err = s7.ParseAddress(tag.Address, tag.Type); err != nil {
			t.Fatal(err)
		}
	}
	p.set("AI.Enable", plc.BoolValue(true))
	p.set("AI.Setpoint", plc.FloatValue(plc.Real, 850))
	p.drv, err = s7.New(s7.Config{
		Endpoint: srv.Addr(),
		Timeout:  time.Second, ConnectTimeout: time.Second,
		Retry:   backoff.Config{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		Breaker: breaker.Config{OpenFor: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.drv.Close() })
	return p
}

// get reads a tag from the PLC's memory (also while it is stopped).
func (p *plant) get(tag string) plc.Value {
	p.t.Helper()
	v, err := p.srv.Load(p.addrs[tag])
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// set stores a tag into the PLC's memory, as the module or the process
// would.
func (p *plant) set(tag string, v plc.Value) {
	p.t.Helper()
	if err := p.srv.Store(p.addrs[tag], v); err != nil {
		p.t.Fatal(err)
	}
}

// moduleYAML is a process module running the demo module against p.
func (p *plant) moduleYAML(name, faultFile, extra string) string {
	exe, err := os.Executable()
	if err != nil {
		p.t.Fatal(err)
	}
	return fmt.Sprintf(`
  - name: %s
    process:
      path: %s
      args: [-plc, "%s", -heartbeat, DB10.DBD0, -enable, DB10.DBX4.0, -setpoint, DB10.DBD8, -period, 20ms, -fault-file, %s]
      env: [%s=1, GORACE=atexit_sleep_ms=0]   # a race-enabled module exits at once
      stop_timeout: 5s
    fail_safe:
      write:
        - {tag: AI.Enable, value: false}
        - {tag: AI.Setpoint, value: 850}
      retry: {initial: 100ms, max: 200ms, jitter: -1}
      hand_back:
        stable: 10s
        write:
          - {tag: AI.Enable, value: true}
%s`, name, exe, p.srv.Addr(), faultFile, moduleEnv, extra)
}

// harness runs a monitor on a fake clock.
type harness struct {
	t    *testing.T
	p    *plant
	clk  *clock.Fake
	mon  *failsafe.Monitor
	api  *httptest.Server
	stop func()
	pids map[int]bool
}

func start(t *testing.T, p *plant, modulesYAML string, opts ...failsafe.Option) *harness {
	t.Helper()
	cfg, err := failsafe.Parse("monitor.yaml", []byte("modules:"+modulesYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	opts = append([]failsafe.Option{failsafe.WithClock(clk), failsafe.WithLogger(zaptest.NewLogger(t))}, opts...)
	mon, err := failsafe.New(cfg, p.db, map[string]plc.Driver{device: p.drv}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mon.Serve(ctx) }()
	api := httptest.NewServer(mon.Handler())
	h := &harness{t: t, p: p, clk: clk, mon: mon, api: api, pids: map[int]bool{}}
	h.stop = func() {
		api.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for pid := range h.pids { // every module process was reaped
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("module process %d still exists after the monitor stopped (kill 0: %v)", pid, err)
			}
		}
	}
	t.Cleanup(h.stop)
	return h
}

func faultFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "fault")
}

func setFault(t *testing.T, path, fault string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fault), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) module(name string) failsafe.ModuleStatus {
	h.t.Helper()
	s, err := h.mon.Module(name)
	if err != nil {
		h.t.Fatal(err)
	}
	if s.PID != 0 {
		h.pids[s.PID] = true
	}
	return s
}

// waitFor polls cond in real time; the monitor's clock does not move.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advanceUntil moves the monitor's clock by step, pausing in real time
// after each step for the monitor to act, until cond holds; after more
// than tries steps it fails with what.
func (h *harness) advanceUntil(t *testing.T, what string, tries int, step, pause time.Duration, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > tries {
			t.Fatal(what)
		}
		h.clk.Advance(step)
		time.Sleep(pause)
	}
}

// running waits for the module's process and returns its pid.
func (h *harness) running(name string) int {
	h.t.Helper()
	var pid int
	waitFor(h.t, name+" running", func() bool {
		s := h.module(name)
		pid = s.PID
		return s.Running && pid != 0
	})
	return pid
}

// lastHandover waits for a completed handover of kind after n earlier
// handovers of the module.
func (h *harness) handover(name, kind string, after int) failsafe.Handover {
	h.t.Helper()
	var got failsafe.Handover
	waitFor(h.t, fmt.Sprintf("%s %s handover #%d", name, kind, after+1), func() bool {
		n := 0
		for _, ho := range h.mon.Handovers() {
			if ho.Module != name || ho.Kind != kind || ho.CompletedAt.IsZero() {
				continue
			}
			if n == after {
				got = ho
				return true
			}
			n++
		}
		return false
	})
	return got
}

func (h *harness) post(path string) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.Post(h.api.URL+path, "application/json", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if err := json.Unmarshal(buf.Bytes(), &body); err != nil {
		h.t.Fatalf("POST %s: %v: %s", path, err, buf.String())
	}
	return resp.StatusCode, body
}

// assertFailSafe checks the plant holds the fail-safe values.
func (p *plant) assertFailSafe() {
	p.t.Helper()
	if v := p.get("AI.Enable"); v.Bool() {
		p.t.Errorf("AI.Enable = %v, want false (fail-safe)", v)
	}
	if v := p.get("AI.Setpoint"); v.Float() != 850 {
		p.t.Errorf("AI.Setpoint = %v, want 850 (fail-safe)", v)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// metricValue reads one sample of a monitor metric by its label values.
func metricValue(t *testing.T, mon *failsafe.Monitor, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(mon)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(labels) || lp.GetValue() != labels[i] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}
