package failsafe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

func TestKilledModuleIsRestartedAndFailSafeWrittenAtOnce(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	pub := spool.NewPublisher(sp)
	defer pub.Close()
	var auditMu sync.Mutex
	var audits []plc.AuditRecord
	audit := plc.AuditFunc(func(_ context.Context, r plc.AuditRecord) error {
		auditMu.Lock()
		defer auditMu.Unlock()
		audits = append(audits, r)
		return nil
	})
	h := start(t, p, p.moduleYAML("tuner", ff, ""), failsafe.WithEvents(pub), failsafe.WithAudit(audit))
	pid := h.running("tuner")
	p.set("AI.Setpoint", plc.FloatValue(plc.Real, 900)) // the module's doing
	start := h.clk.Now()

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ho := h.handover("tuner", failsafe.KindFailSafe, 0)
	p.assertFailSafe()
	// The clock never moved: detection and the verified write needed no
	// probe period at all.
	if !ho.DetectedAt.Equal(start) || !ho.CompletedAt.Equal(start) {
		t.Errorf("handover detected %v, completed %v; want both at %v (no probe period passed)", ho.DetectedAt, ho.CompletedAt, start)
	}
	if ho.Reason != "process ended: signal: killed" || ho.Attempts != 1 {
		t.Errorf("handover = %+v, want reason naming the kill (not the program's path) and 1 attempt", ho)
	}
	waitFor(t, "a new process", func() bool {
		s := h.module("tuner")
		return s.Running && s.PID != 0 && s.PID != pid && s.Starts == 2
	})
	s := h.module("tuner")
	if s.State != failsafe.StateFailSafe || s.LastFailure == nil || !contains(s.LastFailure.Reason, "killed") {
		t.Errorf("status = %+v, want fail_safe with the kill as last failure", s)
	}
	if got := metricValue(t, h.mon, "kiln_ai_monitor_handovers_total", "fail_safe", "tuner"); got != 1 {
		t.Errorf("handovers_total = %v, want 1", got)
	}

	// The status events went out on the transport.
	sub, err := spool.NewSubscriber(sp)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	kinds := map[failsafe.EventKind]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !kinds[failsafe.EventHandover] {
		d, err := sub.Receive(ctx)
		if err != nil {
			t.Fatalf("receive events: %v (got %v)", err, kinds)
		}
		e, err := failsafe.DecodeEvent(d.Message())
		if err != nil || d.Message().Key != "tuner" || d.Message().Properties["content-type"] != failsafe.ContentType {
			t.Fatalf("event %+v, %v", d.Message(), err)
		}
		kinds[e.Kind] = true
		_ = d.Ack()
	}
	if !kinds[failsafe.EventUnhealthy] {
		t.Errorf("events %v: no unhealthy event before the handover", kinds)
	}

	// Every write of the plan was audited, under the monitor's name for
	// the module, with the old value and the verifying read-back.
	auditMu.Lock()
	defer auditMu.Unlock()
	byTag := map[string]plc.AuditRecord{}
	for _, r := range audits {
		byTag[r.Tag] = r
	}
	if r, ok := byTag["AI.Setpoint"]; !ok || r.Principal.Who != "ai-monitor/tuner" || r.Err != nil ||
		r.Old.Float() != 900 || r.ReadBack.Float() != 850 {
		t.Errorf("audit of AI.Setpoint = %+v (found %v), want by ai-monitor/tuner, 900 -> 850 read back", r, ok)
	}
	if r, ok := byTag["AI.Enable"]; !ok || r.Principal.Who != "ai-monitor/tuner" || r.Err != nil || !r.ReadBack.IsValid() || r.ReadBack.Bool() {
		t.Errorf("audit of AI.Enable = %+v (found %v), want false read back", r, ok)
	}
}

func TestHandBackOnlyAfterTheStablePeriod(t *testing.T) {
	p := newPlant(t)
	h := start(t, p, p.moduleYAML("tuner", faultFile(t), ""))
	pid := h.running("tuner")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.handover("tuner", failsafe.KindFailSafe, 0)
	waitFor(t, "the restarted module healthy", func() bool {
		s := h.module("tuner")
		return s.Healthy && s.PID != pid && s.State == failsafe.StateFailSafe
	})
	h.clk.Advance(10*time.Second - time.Millisecond)
	time.Sleep(50 * time.Millisecond) // room for a wrong hand-back to show
	if s := h.module("tuner"); s.State != failsafe.StateFailSafe {
		t.Fatalf("state %s before the stable period ended, want fail_safe", s.State)
	}
	p.assertFailSafe()

	h.clk.Advance(time.Millisecond)
	hb := h.handover("tuner", failsafe.KindHandBack, 0)
	if got := hb.DetectedAt.Sub(h.module("tuner").HealthySince); got != 10*time.Second {
		t.Errorf("handed back %v after the module became healthy, want 10s", got)
	}
	waitFor(t, "state in_control", func() bool { return h.module("tuner").State == failsafe.StateInControl })
	if !p.get("AI.Enable").Bool() {
		t.Error("AI.Enable false after hand-back")
	}
}

func TestFailureDuringStablePeriodRestartsIt(t *testing.T) {
	p := newPlant(t)
	h := start(t, p, p.moduleYAML("tuner", faultFile(t), ""))
	pid := h.running("tuner")
	h.clk.Advance(6 * time.Second) // healthy since start, not yet stable
	_ = syscall.Kill(pid, syscall.SIGKILL)
	h.handover("tuner", failsafe.KindFailSafe, 0)
	waitFor(t, "restarted and healthy", func() bool { s := h.module("tuner"); return s.Healthy && s.PID != pid })
	h.clk.Advance(6 * time.Second) // 12s since start, 6s since the recovery
	time.Sleep(50 * time.Millisecond)
	if s := h.module("tuner"); s.State != failsafe.StateFailSafe {
		t.Fatalf("state %s 6s after recovery, want fail_safe", s.State)
	}
	h.clk.Advance(4 * time.Second)
	h.handover("tuner", failsafe.KindHandBack, 0)
}

func TestHungModuleFailSafeAndRestart(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	h := start(t, p, p.moduleYAML("tuner", ff, `    heartbeat: {source: tag, tag: AI.Heartbeat, period: 100ms, timeout: 1s}
`))
	pid := h.running("tuner")
	waitFor(t, "the module counting", func() bool { return p.get("AI.Heartbeat").Float() > 0 })
	// tick lets the module count (it beats every 20ms of real time), moves
	// the clock one heartbeat period and waits for the read.
	tick := func() {
		time.Sleep(30 * time.Millisecond)
		h.clk.Advance(100 * time.Millisecond)
		now := h.clk.Now()
		waitFor(t, "a heartbeat check", func() bool {
			s := h.module("tuner")
			return !s.Heartbeat.LastCheck.Before(now) || s.PID != pid
		})
	}
	for h.module("tuner").Heartbeat.LastBeat.IsZero() {
		tick()
	}
	for range 20 { // 2s of beats: the watchdog stays quiet
		tick()
	}
	if s := h.module("tuner"); s.PID != pid || len(h.mon.Handovers()) != 0 || !s.Healthy {
		t.Fatalf("a beating module was handed over or restarted: %+v", s)
	}

	setFault(t, ff, "hang")
	time.Sleep(100 * time.Millisecond) // the module stops counting
	h.advanceUntil(t, "no handover 3s after the heartbeat stopped", 30, 100*time.Millisecond, 5*time.Millisecond, func() bool { return len(h.mon.Handovers()) > 0 })
	ho := h.handover("tuner", failsafe.KindFailSafe, 0)
	if ho.Reason != "heartbeat missed" {
		t.Errorf("reason %q, want heartbeat missed", ho.Reason)
	}
	p.assertFailSafe()
	setFault(t, ff, "")
	waitFor(t, "the hung process replaced", func() bool { s := h.module("tuner"); return s.Running && s.PID != 0 && s.PID != pid })
	if got := h.mon.Tree().Children[0].Tree.Children[0]; got.Restarts != 1 {
		t.Errorf("module child restarts = %d, want 1", got.Restarts)
	}
}

func TestOutOfEnvelopeSetpointFailsSafe(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	h := start(t, p, p.moduleYAML("tuner", ff, `    envelope:
      period: 100ms
      limits:
        - {tag: AI.Setpoint, min: 800, max: 900}
`))
	pid := h.running("tuner")
	h.clk.Advance(100 * time.Millisecond)
	waitFor(t, "an envelope check", func() bool { return !h.module("tuner").Envelope.LastCheck.IsZero() })
	if n := len(h.mon.Handovers()); n != 0 {
		t.Fatalf("%d handovers for a module within its envelope", n)
	}
	setFault(t, ff, "bad")
	waitFor(t, "the bad setpoint in the PLC", func() bool { return p.get("AI.Setpoint").Float() > 900 })
	h.clk.Advance(100 * time.Millisecond)
	ho := h.handover("tuner", failsafe.KindFailSafe, 0)
	if !contains(ho.Reason, "AI.Setpoint") || !contains(ho.Reason, "outside [800, 900]") {
		t.Errorf("reason %q, want the setpoint outside its envelope", ho.Reason)
	}
	setFault(t, ff, "")
	waitFor(t, "the module restarted", func() bool { s := h.module("tuner"); return s.Running && s.PID != pid && s.PID != 0 })
	time.Sleep(100 * time.Millisecond) // the restarted module sees AI.Enable false and keeps off
	p.assertFailSafe()
}

func TestIntensityExceededStaysFailedUntilReset(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	setFault(t, ff, "crash")
	h := start(t, p, p.moduleYAML("tuner", ff, `    restart: {intensity: 2, period: 1m, retry: {initial: 100ms, max: 100ms, jitter: -1}}
`))
	h.advanceUntil(t, "module never declared failed", 3000, 100*time.Millisecond, 10*time.Millisecond, func() bool { return h.module("tuner").State == failsafe.StateFailed })
	p.assertFailSafe()
	child := h.mon.Tree().Children[0]
	if child.State != supervise.StateFailed {
		t.Fatalf("tree child state %s, want failed", child.State)
	}
	starts := h.module("tuner").Starts
	if starts != 3 {
		t.Errorf("starts = %d, want 3 (intensity 2)", starts)
	}
	for range 20 { // it stays down
		h.clk.Advance(time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	if s := h.module("tuner"); s.Starts != starts || s.Running || s.State != failsafe.StateFailed {
		t.Fatalf("failed module came back by itself: %+v", s)
	}
	p.assertFailSafe()

	// The operator fixes the module and resets it.
	setFault(t, ff, "")
	code, body := h.post("/api/modules/tuner/reset")
	if code != http.StatusOK {
		t.Fatalf("reset: %d %v", code, body)
	}
	waitFor(t, "the reset module healthy", func() bool { s := h.module("tuner"); return s.Healthy && s.State == failsafe.StateFailSafe })
	p.assertFailSafe()
	h.clk.Advance(10 * time.Second)
	h.handover("tuner", failsafe.KindHandBack, 0)
	if !p.get("AI.Enable").Bool() {
		t.Error("AI.Enable false after the hand-back")
	}
	if code, _ := h.post("/api/modules/nope/reset"); code != http.StatusNotFound {
		t.Errorf("reset of an unknown module: %d, want 404", code)
	}
}

func TestPLCUnreachableDuringHandoverRetriesAndAlarms(t *testing.T) {
	p := newPlant(t)
	h := start(t, p, p.moduleYAML("tuner", faultFile(t), ""))
	pid := h.running("tuner")
	p.set("AI.Setpoint", plc.FloatValue(plc.Real, 910))
	if err := p.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the alarm", func() bool { s := h.module("tuner"); return s.Alarm && s.State == failsafe.StateHandingOver })
	if got := metricValue(t, h.mon, "kiln_ai_monitor_alarm", "tuner"); got != 1 {
		t.Errorf("alarm gauge = %v, want 1", got)
	}
	for range 3 { // retries while the PLC is away
		h.clk.Advance(200 * time.Millisecond)
		time.Sleep(20 * time.Millisecond)
	}
	if s := h.module("tuner"); !s.Alarm || s.LastHandover.Attempts < 2 {
		t.Fatalf("status %+v, want the alarm up after several attempts", s)
	}
	if err := p.srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil(t, "fail-safe never written after the PLC came back", 1000, 200*time.Millisecond, 10*time.Millisecond, func() bool { return h.module("tuner").State == failsafe.StateFailSafe })
	s := h.module("tuner")
	if s.Alarm || s.LastHandover.CompletedAt.IsZero() || s.LastHandover.Attempts < 3 {
		t.Errorf("status %+v, want the alarm cleared and the handover completed after retries", s)
	}
	if got := metricValue(t, h.mon, "kiln_ai_monitor_alarm", "tuner"); got != 0 {
		t.Errorf("alarm gauge = %v, want 0", got)
	}
	p.assertFailSafe()
}

func TestServiceModuleLivenessAndTopicHeartbeat(t *testing.T) {
	p := newPlant(t)
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer svc.Close()
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sub, err := spool.NewSubscriber(sp)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub := spool.NewPublisher(sp)
	defer pub.Close()
	beat := func() {
		t.Helper()
		done := make(chan error, 1)
		if err := pub.Publish(context.Background(), []transport.Message{{Key: "vision"}}, func(_ int, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	cfg := `
  - name: vision
    service: {url: "` + svc.URL + `", expect_status: 204}
    liveness: {period: 1s, failure_threshold: 1}
    heartbeat: {source: topic, timeout: 3s}
    fail_safe:
      write: [{tag: AI.Enable, value: false}, {tag: AI.Setpoint, value: 850}]
      hand_back: {stable: 5s, manual_only: true, write: [{tag: AI.Enable, value: true}]}
`
	h := start(t, p, cfg, failsafe.WithHeartbeats(sub))
	// beatAndWait gives a heartbeat and waits for the monitor to see it.
	beatAndWait := func() {
		t.Helper()
		beat()
		now := h.clk.Now()
		waitFor(t, "the heartbeat seen", func() bool { return h.module("vision").Heartbeat.LastBeat.Equal(now) })
	}
	beatAndWait()
	waitFor(t, "the first heartbeat", func() bool { return h.module("vision").Healthy })
	for range 8 { // liveness probes (204 is healthy) and beats, past the stable period
		h.clk.Advance(time.Second)
		beatAndWait()
	}
	time.Sleep(50 * time.Millisecond)
	if s := h.module("vision"); s.State != failsafe.StateStarting {
		t.Fatalf("manual-only module in state %s without an operator, want starting", s.State)
	}
	code, body := h.post("/api/modules/vision/hand-back")
	if code != http.StatusOK || body["state"] != string(failsafe.StateInControl) {
		t.Fatalf("hand-back: %d %v", code, body)
	}

	// No more heartbeats: the watchdog fires.
	h.advanceUntil(t, "no handover after the heartbeats stopped", 100, 500*time.Millisecond, 5*time.Millisecond, func() bool { return len(h.mon.Handovers()) >= 2 })
	if ho := h.handover("vision", failsafe.KindFailSafe, 0); ho.Reason != "heartbeat missed" {
		t.Errorf("reason %q, want heartbeat missed", ho.Reason)
	}
	p.assertFailSafe()
	if code, _ := h.post("/api/modules/vision/hand-back"); code != http.StatusConflict {
		t.Errorf("hand-back to a module without heartbeat: %d, want 409", code)
	}

	// Beating again, then the service answers 500: liveness fails.
	beat()
	waitFor(t, "healthy again", func() bool { return h.module("vision").Healthy })
	p.set("AI.Setpoint", plc.FloatValue(plc.Real, 870))
	status.Store(http.StatusInternalServerError)
	h.advanceUntil(t, "no handover after the liveness probe failed", 100, 500*time.Millisecond, 5*time.Millisecond, func() bool { return len(h.mon.Handovers()) >= 3 })
	if ho := h.handover("vision", failsafe.KindFailSafe, 1); !contains(ho.Reason, "liveness probe failed") || !contains(ho.Reason, "status 500") {
		t.Errorf("reason %q, want the failed liveness probe", ho.Reason)
	}
	p.assertFailSafe()
}

func TestReadinessHoldsHandBackAndHTTPHeartbeat(t *testing.T) {
	p := newPlant(t)
	var ready atomic.Int32
	ready.Store(http.StatusServiceUnavailable)
	mux := http.NewServeMux()
	mux.HandleFunc("/live", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/hb", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(ready.Load())) })
	svc := httptest.NewServer(mux)
	defer svc.Close()
	p.set("AI.Enable", plc.BoolValue(false))
	h := start(t, p, `
  - name: vision
    service: {url: "`+svc.URL+`/live"}
    readiness: {url: "`+svc.URL+`/ready", period: 1s, failure_threshold: 1}
    heartbeat: {source: http, url: "`+svc.URL+`/hb", period: 1s, timeout: 3s}
    fail_safe:
      write: [{tag: AI.Enable, value: false}]
      hand_back: {stable: 5s, write: [{tag: AI.Enable, value: true}]}
`)
	// step moves the clock a second and waits for the heartbeat probe.
	step := func() {
		t.Helper()
		h.clk.Advance(time.Second)
		now := h.clk.Now()
		waitFor(t, "a heartbeat probe", func() bool { return !h.module("vision").Heartbeat.LastCheck.Before(now) })
	}
	waitFor(t, "the service running", func() bool { return h.module("vision").Running })
	// The watches start after the service runs: their tickers may not
	// exist yet, and a second advanced before that is lost to them. Move
	// the clock in small steps until the heartbeat has been probed once.
	h.advanceUntil(t, "no heartbeat probe in 60 s of the monitor's time", 600, 100*time.Millisecond, 10*time.Millisecond,
		func() bool { return !h.module("vision").Heartbeat.LastCheck.IsZero() })
	for range 8 {
		step()
	}
	s := h.module("vision")
	if s.Heartbeat.LastBeat.IsZero() || s.Ready || s.State != failsafe.StateStarting || s.Healthy {
		t.Fatalf("status %+v: want beating, not ready, no hand-back", s)
	}
	if p.get("AI.Enable").Bool() {
		t.Fatal("control handed to a module that is not ready")
	}
	ready.Store(http.StatusOK)
	for i := 0; h.module("vision").State != failsafe.StateInControl; i++ {
		if i > 10 {
			t.Fatalf("no hand-back 10s after the module became ready: %+v", h.module("vision"))
		}
		step()
	}
	hb := h.handover("vision", failsafe.KindHandBack, 0)
	if got := hb.DetectedAt.Sub(h.module("vision").HealthySince); got != 5*time.Second {
		t.Errorf("handed back %v after the module became ready, want 5s", got)
	}
	if !p.get("AI.Enable").Bool() {
		t.Error("AI.Enable false after the hand-back")
	}
}

// A PLC outage holds a crashed module back until its fail-safe plan is
// verified; its liveness probe, failing meanwhile (the program is gone),
// must not restart it again and again and declare it failed: the wait is
// the plant's. Once the program runs again the probe counts as before.
func TestPLCOutageDoesNotCountLivenessTowardIntensity(t *testing.T) {
	p := newPlant(t)
	var live atomic.Bool
	live.Store(true)
	var probes atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		probes.Add(1)
		if !live.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hs.Close()
	h := start(t, p, p.moduleYAML("tuner", faultFile(t), `    liveness: {url: "`+hs.URL+`", period: 1s, failure_threshold: 2}
    restart: {intensity: 2, period: 1h, retry: {initial: 100ms, max: 100ms, jitter: -1}}
`))
	pid := h.running("tuner")
	if err := p.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	live.Store(false) // the module's health endpoint went with it
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the alarm", func() bool { return h.module("tuner").Alarm })
	for range 20 { // ten times what intensity and threshold allow
		h.clk.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if s := h.module("tuner"); s.State != failsafe.StateHandingOver || s.Starts != 1 || !s.Alarm {
		t.Fatalf("status %+v: want still handing over, 1 start, alarm up (the outage restarted the module)", s)
	}
	if err := p.srv.Start(); err != nil {
		t.Fatal(err)
	}
	live.Store(true)
	h.advanceUntil(t, "fail-safe never written after the PLC came back", 1000, 200*time.Millisecond, 10*time.Millisecond, func() bool { return h.module("tuner").State == failsafe.StateFailSafe })
	p.assertFailSafe()
	waitFor(t, "the restarted module", func() bool { s := h.module("tuner"); return s.Running && s.PID != 0 && s.PID != pid })
	if s := h.module("tuner"); s.Starts != 2 || s.State == failsafe.StateFailed {
		t.Fatalf("status %+v: want 2 starts, not failed", s)
	}
	// The liveness probe still judges the running module.
	seen := probes.Load()
	live.Store(false)
	for i := 0; h.module("tuner").LastHandover.Reason == "" || !contains(h.module("tuner").LastFailure.Reason, "liveness probe failed"); i++ {
		if i > 100 {
			t.Fatalf("liveness failure of the running module not acted on: %+v", h.module("tuner"))
		}
		h.clk.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if probes.Load() == seen {
		t.Error("no probe reached the module after its restart")
	}
	waitFor(t, "the fail-safe after the liveness failure", func() bool {
		ho := h.module("tuner").LastHandover
		return ho.Kind == failsafe.KindFailSafe && contains(ho.Reason, "liveness") && !ho.CompletedAt.IsZero()
	})
}

// A module whose heartbeat stopped less than a watchdog interval before
// its stable period ends does not get control: the hand-back waits for a
// fresh heartbeat, and the watchdog then fails the module.
func TestNoHandBackToAModuleWhoseHeartbeatStopped(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	h := start(t, p, p.moduleYAML("tuner", ff, `    heartbeat: {source: tag, tag: AI.Heartbeat, period: 100ms, timeout: 1s}
`))
	pid := h.running("tuner")
	waitFor(t, "the module counting", func() bool { return p.get("AI.Heartbeat").Float() > 0 })
	for i := 0; h.module("tuner").Heartbeat.LastBeat.IsZero(); i++ {
		if i > 100 {
			t.Fatal("no heartbeat seen")
		}
		time.Sleep(30 * time.Millisecond)
		h.clk.Advance(100 * time.Millisecond)
	}
	setFault(t, ff, "hang")
	time.Sleep(100 * time.Millisecond) // the module stops counting
	// One jump across the stable period: the stable timer and the
	// watchdog come due together, in either order.
	h.clk.Advance(10 * time.Second)
	ho := h.handover("tuner", failsafe.KindFailSafe, 0)
	if ho.Reason != "heartbeat missed" {
		t.Errorf("reason %q, want heartbeat missed", ho.Reason)
	}
	for _, ho := range h.mon.Handovers() {
		if ho.Kind == failsafe.KindHandBack {
			t.Errorf("control handed to a module whose heartbeat had stopped: %+v", ho)
		}
	}
	p.assertFailSafe()
	setFault(t, ff, "")
	waitFor(t, "the hung process replaced", func() bool { s := h.module("tuner"); return s.Running && s.PID != 0 && s.PID != pid })
}

// While the PLC cannot be read a heartbeat tag does not blame the module;
// a module that hung meanwhile is caught once the PLC answers again, a
// heartbeat timeout later.
func TestHeartbeatTagDuringPLCOutage(t *testing.T) {
	p := newPlant(t)
	ff := faultFile(t)
	h := start(t, p, p.moduleYAML("tuner", ff, `    heartbeat: {source: tag, tag: AI.Heartbeat, period: 100ms, timeout: 1s}
`))
	pid := h.running("tuner")
	waitFor(t, "the module counting", func() bool { return p.get("AI.Heartbeat").Float() > 0 })
	step := func() {
		t.Helper()
		time.Sleep(10 * time.Millisecond)
		h.clk.Advance(100 * time.Millisecond)
		now := h.clk.Now()
		waitFor(t, "a heartbeat check", func() bool { return !h.module("tuner").Heartbeat.LastCheck.Before(now) })
	}
	for i := 0; h.module("tuner").Heartbeat.LastBeat.IsZero(); i++ {
		if i > 100 {
			t.Fatal("no heartbeat seen")
		}
		step()
	}
	if err := p.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 30 { // three heartbeat timeouts without a readable tag
		step()
	}
	if s := h.module("tuner"); len(h.mon.Handovers()) != 0 || s.PID != pid {
		t.Fatalf("the PLC outage was blamed on the module: %+v", s)
	}
	setFault(t, ff, "hang")
	time.Sleep(100 * time.Millisecond) // the module stops counting
	if err := p.srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil(t, "hung module not caught after the PLC came back", 300, 100*time.Millisecond, 10*time.Millisecond, func() bool { return len(h.mon.Handovers()) > 0 })
	if ho := h.handover("tuner", failsafe.KindFailSafe, 0); ho.Reason != "heartbeat missed" {
		t.Errorf("reason %q, want heartbeat missed", ho.Reason)
	}
	p.assertFailSafe()
	setFault(t, ff, "")
}

// An operator cannot hand control back while the fail-safe plan is still
// being retried: the plant is not safe yet, and the module waits for it.
func TestNoOperatorHandBackBeforeFailSafeVerified(t *testing.T) {
	p := newPlant(t)
	var live atomic.Bool
	live.Store(true)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !live.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hs.Close()
	h := start(t, p, p.moduleYAML("tuner", faultFile(t), `    liveness: {url: "`+hs.URL+`", period: 1s, failure_threshold: 1}
`))
	pid := h.running("tuner")
	if err := p.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	live.Store(false)
	for i := 0; !h.module("tuner").Alarm; i++ {
		if i > 100 {
			t.Fatalf("no alarm after the liveness failure: %+v", h.module("tuner"))
		}
		h.clk.Advance(time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	live.Store(true)
	// The restarted instance is up but held back, and healthy as far as
	// its probes go.
	waitFor(t, "the restarted instance", func() bool { s := h.module("tuner"); return s.Starts == 2 && s.Healthy })
	code, body := h.post("/api/modules/tuner/hand-back")
	if code != http.StatusConflict || !contains(fmt.Sprint(body["error"]), "not yet verified") {
		t.Fatalf("hand-back during the outage: %d %v, want 409 naming the unverified fail-safe plan", code, body)
	}
	if s := h.module("tuner"); s.State != failsafe.StateHandingOver || s.PID == pid {
		t.Fatalf("status %+v: want still handing over, the old process gone", s)
	}
	if err := p.srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil(t, "fail-safe never written after the PLC came back", 1000, 200*time.Millisecond, 10*time.Millisecond, func() bool { return h.module("tuner").State == failsafe.StateFailSafe })
	p.assertFailSafe()
	if code, body := h.post("/api/modules/tuner/hand-back"); code != http.StatusOK {
		t.Fatalf("hand-back after the fail-safe: %d %v", code, body)
	}
	if !p.get("AI.Enable").Bool() {
		t.Error("AI.Enable false after the operator's hand-back")
	}
}
