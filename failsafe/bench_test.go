package failsafe_test

import (
	"context"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/plc"
)

// BenchmarkDetectionToFailSafe kills the module process b.N times (with
// SIGKILL, on the real clock) and measures from the kill to the fail-safe
// plan (two tags) written and verified by read-back in the simulated PLC
// over S7. It reports the percentiles of that latency and of its two
// parts: detection (kill → the monitor declares the module unhealthy)
// and the verified write.
//
//	go test ./failsafe -run '^$' -bench DetectionToFailSafe -benchtime 100x
func BenchmarkDetectionToFailSafe(b *testing.B) {
	p := newPlant(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := failsafe.Parse("bench.yaml", []byte(`modules:
  - name: tuner
    process:
      path: `+exe+`
      args: [-plc, "`+p.srv.Addr()+`", -heartbeat, DB10.DBD0, -enable, DB10.DBX4.0, -setpoint, DB10.DBD8, -period, 20ms]
      env: [`+moduleEnv+`=1]
    restart: {intensity: 100000, period: 1s, stable_after: 1ms, retry: {initial: 1ms, max: 1ms}}
    fail_safe:
      write:
        - {tag: AI.Enable, value: false}
        - {tag: AI.Setpoint, value: 850}
      hand_back: {manual_only: true}
`))
	if err != nil {
		b.Fatal(err)
	}
	mon, err := failsafe.New(cfg, p.db, map[string]plc.Driver{device: p.drv})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mon.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	var total, detect, write []time.Duration
	lastPID := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		var pid int
		benchWait(b, func() bool {
			s, _ := mon.Module("tuner")
			pid = s.PID
			return s.Running && pid != 0 && pid != lastPID
		})
		lastPID = pid
		if err := p.srv.Store(p.addrs["AI.Enable"], plc.BoolValue(true)); err != nil {
			b.Fatal(err)
		}
		if err := p.srv.Store(p.addrs["AI.Setpoint"], plc.FloatValue(plc.Real, 900)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		var ho failsafe.Handover
		benchWait(b, func() bool {
			hs := mon.Handovers()
			if len(hs) <= i || hs[i].CompletedAt.IsZero() {
				return false
			}
			ho = hs[i]
			return true
		})
		b.StopTimer()
		if v, _ := p.srv.Load(p.addrs["AI.Enable"]); v.Bool() {
			b.Fatalf("kill %d: AI.Enable still true after the handover", i)
		}
		total = append(total, ho.CompletedAt.Sub(t0))
		detect = append(detect, ho.DetectedAt.Sub(t0))
		write = append(write, ho.CompletedAt.Sub(ho.DetectedAt))
		b.StartTimer()
	}
	b.StopTimer()
	report(b, "total", total)
	report(b, "detect", detect)
	report(b, "write", write)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	pct := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		i = max(0, min(i, len(ds)-1))
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), name+"-p50-ms")
	b.ReportMetric(pct(0.99), name+"-p99-ms")
	if name == "total" {
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
	}
}

func benchWait(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(50 * time.Microsecond)
	}
}
