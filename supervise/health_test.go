package supervise

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
)

// numbered is a child instance that knows which start it is.
type numbered struct{ n int }

func (numbered) Serve(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func numberedFactory(n *atomic.Int32) func() (Service, error) {
	return func() (Service, error) { return numbered{int(n.Add(1))}, nil }
}

func TestLivenessFailureRestarts(t *testing.T) {
	fc := clock.NewFake(epoch)
	ev := newEventLog()
	var n atomic.Int32
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "m", New: numberedFactory(&n), Health: Health{
		Liveness: &Probe{Period: time.Second, FailureThreshold: 2, Check: func(_ context.Context, svc Service) error {
			if svc.(numbered).n == 1 {
				return errBoom
			}
			return nil
		}},
	}})
	running(t, s)
	ev.next(t, EventStarted, "m")
	fc.BlockUntil(1) // first check failed, waiting for the second
	if st := childStatus(t, s, "m"); st.Restarts != 0 || st.Live == nil || !*st.Live {
		t.Fatalf("after one failure %+v", st)
	}
	fc.Advance(time.Second)
	if e := ev.next(t, EventHealthChanged, "m"); e.Probe != Liveness || e.Healthy || !errors.Is(e.Err, errBoom) {
		t.Fatalf("health event %v", e)
	}
	if e := ev.next(t, EventExited, "m"); !errors.Is(e.Err, ErrLivenessFailed) {
		t.Fatalf("exit %v", e)
	}
	ev.next(t, EventRestarted, "m")
	fc.BlockUntil(1) // the new instance passed its first check
	if st := childStatus(t, s, "m"); st.Restarts != 1 || st.Live == nil || !*st.Live {
		t.Fatalf("after restart %+v", st)
	}
}

func TestReadinessFailureDoesNotRestart(t *testing.T) {
	fc := clock.NewFake(epoch)
	ev := newEventLog()
	var n atomic.Int32
	var ready atomic.Bool
	ready.Store(true)
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "m", New: numberedFactory(&n), Health: Health{
		Readiness: &Probe{Period: time.Second, FailureThreshold: 2, Check: func(context.Context, Service) error {
			if !ready.Load() {
				return errBoom
			}
			return nil
		}},
	}})
	running(t, s)
	if e := ev.next(t, EventHealthChanged, "m"); e.Probe != Readiness || !e.Healthy {
		t.Fatalf("health event %v", e)
	}
	if st := childStatus(t, s, "m"); st.Ready == nil || !*st.Ready || st.Live != nil {
		t.Fatalf("status %+v", st)
	}
	ready.Store(false)
	for range 5 {
		fc.BlockUntil(1)
		fc.Advance(time.Second)
	}
	if e := ev.next(t, EventHealthChanged, "m"); e.Probe != Readiness || e.Healthy {
		t.Fatalf("health event %v", e)
	}
	fc.BlockUntil(1)
	if st := childStatus(t, s, "m"); st.Ready == nil || *st.Ready || st.State != StateRunning || st.Restarts != 0 {
		t.Fatalf("status %+v", st)
	}
	ev.none(t, EventExited, "m")
	ev.none(t, EventHealthChanged, "m") // reported once, not per failure
	if n.Load() != 1 {
		t.Errorf("instances %d, want 1", n.Load())
	}
}

func TestStartupProbeHoldsLivenessBack(t *testing.T) {
	fc := clock.NewFake(epoch)
	ev := newEventLog()
	var n, livenessChecks atomic.Int32
	var started atomic.Bool
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "m", New: numberedFactory(&n), Health: Health{
		Startup: &Probe{Period: time.Second, FailureThreshold: 30, Check: func(context.Context, Service) error {
			if !started.Load() {
				return errBoom
			}
			return nil
		}},
		Liveness: &Probe{Period: time.Second, Check: func(context.Context, Service) error {
			livenessChecks.Add(1)
			return nil
		}},
	}})
	running(t, s)
	for range 3 {
		fc.BlockUntil(1)
		fc.Advance(time.Second)
	}
	fc.BlockUntil(1)
	if c := livenessChecks.Load(); c != 0 {
		t.Fatalf("liveness probed %d times before startup succeeded", c)
	}
	if st := childStatus(t, s, "m"); st.Started == nil || *st.Started {
		t.Fatalf("status %+v", st)
	}
	started.Store(true)
	fc.Advance(time.Second)
	if e := ev.next(t, EventHealthChanged, "m"); e.Probe != Startup || !e.Healthy {
		t.Fatalf("health event %v", e)
	}
	fc.BlockUntil(1) // liveness checked once and waits
	if c := livenessChecks.Load(); c != 1 {
		t.Fatalf("liveness probed %d times after startup, want 1", c)
	}
	ev.none(t, EventExited, "m")
}

func TestProbeTimeoutIsAFailure(t *testing.T) {
	ev := newEventLog()
	var n atomic.Int32
	s := mustNew(t, Config{}, WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "m", New: numberedFactory(&n), Health: Health{
		Liveness: &Probe{Timeout: time.Millisecond, FailureThreshold: 1, Check: func(ctx context.Context, svc Service) error {
			if svc.(numbered).n > 1 {
				return nil
			}
			<-ctx.Done() // a check that hangs until its timeout
			return nil
		}},
	}})
	running(t, s)
	if e := ev.next(t, EventHealthChanged, "m"); e.Healthy || !errors.Is(e.Err, context.DeadlineExceeded) {
		t.Fatalf("health event %v", e)
	}
	ev.next(t, EventRestarted, "m")
}
