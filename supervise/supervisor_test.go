package supervise

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
)

var errBoom = errors.New("boom")

func TestRestartTypes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart Restart
		err     error
		again   bool  // restarted
		state   State // when not restarted
	}{
		{"permanent after clean exit", Permanent, nil, true, 0},
		{"permanent after error", Permanent, errBoom, true, 0},
		{"transient after clean exit", Transient, nil, false, StateDone},
		{"transient after error", Transient, errBoom, true, 0},
		{"temporary after clean exit", Temporary, nil, false, StateDone},
		{"temporary after error", Temporary, errBoom, false, StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, ev := newJournal(), newEventLog()
			f := newFamily("c", j)
			s := mustNew(t, Config{}, WithEventHook(ev.hook))
			mustAdd(t, s, f.spec(tc.restart))
			stop := running(t, s)
			j.expect(t, "c#1 start")
			f.fail(tc.err)
			if tc.again {
				j.expect(t, "c#2 start")
				if got := ev.next(t, EventRestarted, "c").Restarts; got != 1 {
					t.Errorf("restarts = %d, want 1", got)
				}
			} else {
				eventually(t, "child "+tc.state.String(), func() bool { return childStatus(t, s, "c").State == tc.state })
				if tc.state == StateFailed {
					if e := ev.next(t, EventFailed, "c"); !errors.Is(e.Err, errBoom) {
						t.Errorf("failed event err = %v", e.Err)
					}
				}
			}
			if err := stop(); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			ev.none(t, EventRestarted, "c")
			if want := map[bool]int{true: 2, false: 1}[tc.again]; f.count() != want {
				t.Errorf("instances made = %d, want %d", f.count(), want)
			}
		})
	}
}

func TestStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy Strategy
		after    []string // journal after b#1 fails
	}{
		{OneForOne, []string{"b#2 start"}},
		{OneForAll, []string{"c#1 stop", "a#1 stop", "a#2 start", "b#2 start", "c#2 start"}},
		{RestForOne, []string{"c#1 stop", "b#2 start", "c#2 start"}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			j := newJournal()
			a, b, c := newFamily("a", j), newFamily("b", j), newFamily("c", j)
			s := mustNew(t, Config{Strategy: tc.strategy})
			mustAdd(t, s, a.spec(Permanent), b.spec(Permanent), c.spec(Permanent))
			stop := running(t, s)
			j.expect(t, "a#1 start", "b#1 start", "c#1 start")
			b.fail(errBoom)
			j.expect(t, tc.after...)
			j.quiet(t)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// Whatever ran stops in reverse start order.
			j.expect(t, "c#"+itoa(c.count())+" stop", "b#"+itoa(b.count())+" stop", "a#"+itoa(a.count())+" stop")
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestOwnContextErrorIsAFailure(t *testing.T) {
	j, ev := newJournal(), newEventLog()
	f := newFamily("c", j)
	s := mustNew(t, Config{}, WithEventHook(ev.hook))
	mustAdd(t, s, f.spec(Transient))
	running(t, s)
	j.expect(t, "c#1 start")
	// The child's own deadline, not the supervisor's cancellation.
	f.fail(context.DeadlineExceeded)
	j.expect(t, "c#2 start")
	if e := ev.next(t, EventExited, "c"); !errors.Is(e.Err, context.DeadlineExceeded) {
		t.Errorf("exit err = %v", e.Err)
	}
}

// TestIntensityEscalatesThroughTwoLevels: a leaf that always fails makes
// its supervisor exceed its intensity; the parent restarts that
// supervisor (fresh) until it exceeds its own, and the root reports it.
func TestIntensityEscalatesThroughTwoLevels(t *testing.T) {
	ev := newEventLog()
	leafStarts := 0
	mid := func() (Service, error) {
		m, err := New(Config{Intensity: 1}, WithEventHook(ev.hook))
		if err != nil {
			return nil, err
		}
		err = m.Add(context.Background(), Spec{Name: "leaf", New: func() (Service, error) {
			leafStarts++ // the mid supervisor's loop is the only caller
			return ServiceFunc(func(context.Context) error { return errBoom }), nil
		}})
		return m, err
	}
	root := mustNew(t, Config{Name: "root", Intensity: 1}, WithEventHook(ev.hook))
	mustAdd(t, root, Spec{Name: "mid", New: mid})
	err := root.Serve(context.Background())

	var top *EscalationError
	if !errors.As(err, &top) || top.Supervisor != "root" || top.Child != "mid" {
		t.Fatalf("root returned %v, want escalation of root by mid", err)
	}
	var inner *EscalationError
	if !errors.As(top.Err, &inner) || inner.Supervisor != "root/mid" || inner.Child != "leaf" {
		t.Fatalf("root's cause %v, want escalation of root/mid by leaf", top.Err)
	}
	if !errors.Is(err, errBoom) || !errors.Is(err, ErrEscalated) {
		t.Errorf("chain %v does not reach errBoom and ErrEscalated", err)
	}
	// Each of the two mid instances: leaf start, one restart, then escalation.
	if leafStarts != 4 {
		t.Errorf("leaf started %d times, want 4", leafStarts)
	}
	var escalated []string
	for len(ev.ch) > 0 {
		if e := <-ev.ch; e.Kind == EventEscalated {
			escalated = append(escalated, e.Supervisor)
		}
	}
	if strings.Join(escalated, " ") != "root/mid root/mid root" {
		t.Errorf("escalations %v", escalated)
	}
	if st := root.Status(); st.State != "escalated" || !strings.Contains(st.LastError, "root/mid") {
		t.Errorf("status %+v", st)
	}
}

func TestIntensityWindowSlides(t *testing.T) {
	fc := clock.NewFake(epoch)
	j, ev := newJournal(), newEventLog()
	f := newFamily("c", j)
	s := mustNew(t, Config{Intensity: 2, Period: 10 * time.Second, StableAfter: time.Second}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, f.spec(Permanent))
	stop := running(t, s)
	j.expect(t, "c#1 start")
	// Two restarts in the window are allowed; each run lasts long enough
	// to be stable, so no backoff.
	for i := 2; i <= 3; i++ {
		fc.Advance(6 * time.Second)
		f.fail(errBoom)
		j.expect(t, "c#"+itoa(i)+" start")
	}
	// The first restart (t=6s) leaves the window at t=16s: this one, at
	// t=18s, is the second within 10s, not the third.
	fc.Advance(6 * time.Second)
	f.fail(errBoom)
	j.expect(t, "c#4 start")
	// Now t=18s holds restarts at 12s and 18s: one more at 18s exceeds 2.
	f.fail(errBoom)
	ev.next(t, EventEscalated, "")
	if err := stop(); !errors.Is(err, ErrEscalated) {
		t.Fatalf("Serve = %v, want escalation", err)
	}
	j.quiet(t)
}

// TestBackoffIsolation: a flapping child waiting out its backoff does not
// delay a healthy sibling's restart.
func TestBackoffIsolation(t *testing.T) {
	fc := clock.NewFake(epoch)
	j, ev := newJournal(), newEventLog()
	flappy, steady := newFamily("flappy", j), newFamily("steady", j)
	s := mustNew(t, Config{Intensity: 100, Retry: backoff.Config{Initial: time.Minute, Jitter: -1}}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, flappy.spec(Permanent), steady.spec(Permanent))
	running(t, s)
	j.expect(t, "flappy#1 start", "steady#1 start")
	flappy.fail(errBoom)
	j.expect(t, "flappy#2 start") // the first restart is immediate
	flappy.fail(errBoom)
	if d := ev.next(t, EventBackoff, "flappy").Delay; d != time.Minute {
		t.Fatalf("flappy backoff %v, want 1m", d)
	}
	fc.BlockUntil(1) // the supervisor waits on flappy's restart time
	steady.fail(errBoom)
	j.expect(t, "steady#2 start") // no clock movement needed
	if st := childStatus(t, s, "flappy"); st.State != StateBackoff {
		t.Fatalf("flappy %v, want still in backoff", st.State)
	}
	j.quiet(t)
	fc.Advance(time.Minute)
	j.expect(t, "flappy#3 start")
}

func TestBackoffGrowsAndResetsAfterStableRun(t *testing.T) {
	fc := clock.NewFake(epoch)
	j, ev := newJournal(), newEventLog()
	f := newFamily("c", j)
	s := mustNew(t, Config{Intensity: 100, StableAfter: time.Hour, Retry: backoff.Config{Initial: time.Second, Max: 5 * time.Second, Jitter: -1}},
		WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, f.spec(Permanent))
	running(t, s)
	j.expect(t, "c#1 start")
	f.fail(errBoom)
	j.expect(t, "c#2 start")
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second} {
		f.fail(errBoom)
		if d := ev.next(t, EventBackoff, "c").Delay; d != want {
			t.Fatalf("backoff %d = %v, want %v", i, d, want)
		}
		fc.BlockUntil(1)
		fc.Advance(want - time.Nanosecond)
		j.quiet(t)
		fc.Advance(time.Nanosecond)
		j.expect(t, "c#"+itoa(i+3)+" start")
	}
	// A run of StableAfter makes the next failure a first one again.
	fc.Advance(time.Hour)
	f.fail(errBoom)
	j.expect(t, "c#7 start")
	ev.none(t, EventBackoff, "c")
}

func TestPanicIsRecoveredCountedAndLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	ev := newEventLog()
	m := NewMetrics()
	n := 0
	s := mustNew(t, Config{Name: "root"}, WithLogger(zap.New(core)), WithEventHook(ev.hook), WithMetrics(m))
	started := make(chan int, 10)
	mustAdd(t, s, Spec{Name: "p", New: func() (Service, error) {
		n++
		k := n
		return ServiceFunc(func(ctx context.Context) error {
			started <- k
			if k == 1 {
				panic("kaboom")
			}
			<-ctx.Done()
			return nil
		}), nil
	}})
	stop := running(t, s)
	e := ev.next(t, EventPanicked, "p")
	var pe *PanicError
	if !errors.As(e.Err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "supervisor_test.go") {
		t.Fatalf("panic event err %#v", e.Err)
	}
	ev.next(t, EventRestarted, "p")
	<-started
	if k := <-started; k != 2 {
		t.Fatalf("second start was instance %d", k)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	entries := logs.FilterMessage("child panicked").All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["stack"].(string), "runtime/debug.Stack") {
		t.Fatalf("panic log entries %v", entries)
	}
	if got := testutil.ToFloat64(m.exits.WithLabelValues("root", "p", "panic")); got != 1 {
		t.Errorf("panic exits counter = %v", got)
	}
	if got := testutil.ToFloat64(m.restarts.WithLabelValues("root", "p")); got != 1 {
		t.Errorf("restarts counter = %v", got)
	}
	if st := childStatus(t, s, "p"); st.Restarts != 1 || !strings.Contains(st.LastError, "kaboom") {
		t.Errorf("status after stop %+v", st)
	}
}

func TestFactoryErrorIsAFailedStart(t *testing.T) {
	ev := newEventLog()
	s := mustNew(t, Config{Intensity: 2}, WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "f", New: func() (Service, error) { return nil, errBoom }})
	err := s.Serve(context.Background())
	if !errors.Is(err, ErrEscalated) || !errors.Is(err, errBoom) {
		t.Fatalf("Serve = %v", err)
	}
	ev.next(t, EventExited, "f")
}

func TestShutdownTimeoutLeavesChildBehind(t *testing.T) {
	fc := clock.NewFake(epoch)
	ev := newEventLog()
	release := make(chan struct{})
	returned := make(chan struct{})
	j := newJournal()
	polite := newFamily("polite", j)
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, polite.spec(Permanent), Spec{Name: "stubborn", Shutdown: 3 * time.Second, New: func() (Service, error) {
		return ServiceFunc(func(ctx context.Context) error {
			defer close(returned)
			<-release // ignores ctx
			return nil
		}), nil
	}})
	stop := running(t, s)
	j.expect(t, "polite#1 start")
	ev.next(t, EventStarted, "stubborn")
	res := make(chan error, 1)
	go func() { res <- stop() }()
	fc.BlockUntil(1) // waiting for stubborn, its timeout running
	j.quiet(t)       // polite is not stopped before stubborn is given up
	fc.Advance(3 * time.Second)
	err := <-res
	if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Serve = %v, want stop timeout naming stubborn", err)
	}
	if e := ev.next(t, EventStopTimeout, "stubborn"); e.Delay != 3*time.Second {
		t.Errorf("stop timeout event %v", e)
	}
	j.expect(t, "polite#1 stop")
	close(release)
	<-returned
}

func TestWatchdogRestartsHungChild(t *testing.T) {
	fc := clock.NewFake(epoch)
	ev := newEventLog()
	beat := make(chan struct{})
	beaten := make(chan struct{})
	n := 0
	s := mustNew(t, Config{}, WithClock(fc), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "w", Watchdog: 5 * time.Second, New: func() (Service, error) {
		n++
		return ServiceFunc(func(ctx context.Context) error {
			for {
				select {
				case <-beat:
					Beat(ctx)
					beaten <- struct{}{}
				case <-ctx.Done():
					return nil
				}
			}
		}), nil
	}})
	running(t, s)
	ev.next(t, EventStarted, "w")
	fc.BlockUntil(1) // the watchdog timer
	fc.Advance(3 * time.Second)
	beat <- struct{}{}
	<-beaten
	fc.Advance(3 * time.Second) // 6s after start, 3s after the beat
	fc.BlockUntil(1)            // rearmed, not hung
	if st := childStatus(t, s, "w"); st.State != StateRunning || st.Restarts != 0 {
		t.Fatalf("beating child %+v", st)
	}
	fc.Advance(2 * time.Second) // 5s without a beat
	if e := ev.next(t, EventHung, "w"); !errors.Is(e.Err, ErrHung) {
		t.Fatalf("hung event %v", e)
	}
	if e := ev.next(t, EventExited, "w"); !errors.Is(e.Err, ErrHung) {
		t.Fatalf("exit event %v", e)
	}
	ev.next(t, EventRestarted, "w")
	if n != 2 {
		t.Errorf("instances %d, want 2", n)
	}
}
