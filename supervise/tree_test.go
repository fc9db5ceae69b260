package supervise

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/config"
)

func TestAddRemoveRestartAtRuntime(t *testing.T) {
	j, ev := newJournal(), newEventLog()
	a, b := newFamily("a", j), newFamily("b", j)
	s := mustNew(t, Config{}, WithEventHook(ev.hook))
	mustAdd(t, s, a.spec(Permanent))
	ctx := context.Background()
	if err := s.Add(ctx, a.spec(Permanent)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("offline duplicate Add = %v", err)
	}
	if err := s.Restart(ctx, "a"); !errors.Is(err, ErrStopped) {
		t.Fatalf("offline Restart = %v", err)
	}
	stop := running(t, s)
	j.expect(t, "a#1 start")
	if err := s.Add(ctx, b.spec(Permanent)); err != nil {
		t.Fatal(err)
	}
	j.expect(t, "b#1 start")
	if err := s.Add(ctx, b.spec(Permanent)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate Add = %v", err)
	}
	if err := s.Add(ctx, Spec{Name: "x/y", New: b.spec(Permanent).New}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad spec Add = %v", err)
	}
	if err := s.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	j.expect(t, "a#1 stop")
	if err := s.Remove(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove = %v", err)
	}
	if err := s.Restart(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	j.expect(t, "b#1 stop", "b#2 start")
	// The journal has the start from the factory, which the supervisor
	// calls before it records the child as running.
	eventually(t, "b running, restarted once", func() bool {
		st := s.Status()
		return len(st.Children) == 1 && st.Children[0].Name == "b" && st.Children[0].State == StateRunning && st.Children[0].Restarts == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	j.expect(t, "b#2 stop")
	// The membership outlives Serve; a new Serve starts it afresh.
	stop = running(t, s)
	j.expect(t, "b#3 start")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	j.expect(t, "b#3 stop")
}

func TestServeTwiceAtOnceFails(t *testing.T) {
	s := mustNew(t, Config{})
	mustAdd(t, s, newFamily("a", newJournal()).spec(Permanent))
	running(t, s)
	eventually(t, "running", func() bool { return s.Status().State == "running" })
	if err := s.Serve(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Serve = %v", err)
	}
}

// moduleSupervisor is an AI module's own supervisor: its worker fails
// while broken is set.
func moduleSupervisor(ev *eventLog, broken *atomic.Bool) func() (Service, error) {
	return func() (Service, error) {
		m, err := New(Config{Intensity: 1}, WithEventHook(ev.hook))
		if err != nil {
			return nil, err
		}
		return m, m.Add(context.Background(), Spec{Name: "worker", New: func() (Service, error) {
			return ServiceFunc(func(ctx context.Context) error {
				if broken.Load() {
					return errBoom
				}
				<-ctx.Done()
				return nil
			}), nil
		}})
	}
}

// TestTemporarySubtreeStaysDownUntilRestart is the AI-monitor pattern: a
// module that exceeds its intensity is declared failed, its siblings run
// on, and it comes back only when reset.
func TestTemporarySubtreeStaysDownUntilRestart(t *testing.T) {
	ev := newEventLog()
	var broken atomic.Bool
	broken.Store(true)
	j := newJournal()
	plc := newFamily("plc", j)
	root := mustNew(t, Config{Name: "monitor"}, WithEventHook(ev.hook))
	mustAdd(t, root, plc.spec(Permanent), Spec{Name: "vision", Restart: Temporary, New: moduleSupervisor(ev, &broken)})
	running(t, root)
	e := ev.next(t, EventFailed, "vision")
	if e.Supervisor != "monitor" || !errors.Is(e.Err, ErrEscalated) || !errors.Is(e.Err, errBoom) {
		t.Fatalf("failed event %v", e)
	}
	if st := childStatus(t, root, "vision"); st.State != StateFailed || !strings.Contains(st.LastError, "monitor/vision") {
		t.Fatalf("vision %+v", st)
	}
	if st := childStatus(t, root, "plc"); st.State != StateRunning || st.Restarts != 0 {
		t.Fatalf("sibling disturbed: %+v", st)
	}
	broken.Store(false)
	if err := root.Restart(context.Background(), "vision"); err != nil {
		t.Fatal(err)
	}
	ev.next(t, EventRestarted, "vision")
	eventually(t, "vision running", func() bool { return childStatus(t, root, "vision").State == StateRunning })
}

func TestStatusOfTreeMarshalsToJSON(t *testing.T) {
	ev := newEventLog()
	var n atomic.Int32
	ai := func() (Service, error) {
		m, err := New(Config{Strategy: RestForOne})
		if err != nil {
			return nil, err
		}
		return m, m.Add(context.Background(), Spec{Name: "m1", New: numberedFactory(&n), Health: Health{
			Readiness: &Probe{Check: func(context.Context, Service) error { return nil }},
		}})
	}
	root := mustNew(t, Config{Name: "root"}, WithEventHook(ev.hook))
	mustAdd(t, root, Spec{Name: "ai", New: ai})
	running(t, root)
	eventually(t, "m1 ready", func() bool {
		st := childStatus(t, root, "ai")
		return st.Tree != nil && len(st.Tree.Children) == 1 && st.Tree.Children[0].Ready != nil && *st.Tree.Children[0].Ready
	})
	b, err := json.Marshal(root.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name     string
		State    string
		Children []struct {
			Name, State, Restart, Uptime string
			Since                        time.Time
			Tree                         struct {
				Name, Strategy string
				Children       []struct {
					Name  string
					Ready *bool
				}
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	c := got.Children[0]
	if got.Name != "root" || got.State != "running" || c.Name != "ai" || c.State != "running" || c.Restart != "permanent" ||
		c.Uptime == "" || c.Since.IsZero() || c.Tree.Name != "root/ai" || c.Tree.Strategy != "rest_for_one" ||
		c.Tree.Children[0].Name != "m1" || c.Tree.Children[0].Ready == nil || !*c.Tree.Children[0].Ready {
		t.Fatalf("JSON %s", b)
	}

	// What an HTTP client fetches decodes back into a Status, and says
	// the same again.
	var decoded Status
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatalf("decoding a Status: %v", err)
	}
	if decoded.Children[0].State != StateRunning || decoded.Children[0].Uptime <= 0 || decoded.Children[0].Tree == nil {
		t.Fatalf("decoded %+v from %s", decoded.Children[0], b)
	}
	again, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Errorf("Status does not round-trip:\n got %s\nwant %s", again, b)
	}
	var bad Status
	if err := json.Unmarshal([]byte(`{"children":[{"name":"x","state":"dancing"}]}`), &bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state: err %v, want ErrInvalid", err)
	}
	if err := json.Unmarshal([]byte(`{"children":[{"name":"x","state":"running","uptime":"soon"}]}`), &bad); err == nil || !strings.Contains(err.Error(), `child "x": uptime`) {
		t.Errorf("bad uptime: err %v, want one naming the child and the field", err)
	}
}

func TestConfigAndSpecValidation(t *testing.T) {
	ok := func() (Service, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"strategy", Config{Strategy: 7}.Validate(), "strategy"},
		{"intensity", Config{Intensity: -1}.Validate(), "intensity"},
		{"period", Config{Period: -1}.Validate(), "period"},
		{"name", Config{Name: "a/b"}.Validate(), "name"},
		{"jitter", Config{Retry: backoff.Config{Jitter: 2}}.Validate(), "retry.jitter"},
		{"multiplier", Config{Retry: backoff.Config{Multiplier: 0.5}}.Validate(), "retry.multiplier"},
		{"multiplier NaN", Config{Retry: backoff.Config{Multiplier: math.NaN()}}.Validate(), "retry.multiplier"},
		{"multiplier Inf", Config{Retry: backoff.Config{Multiplier: math.Inf(1)}}.Validate(), "retry.multiplier"},
		{"jitter NaN", Config{Retry: backoff.Config{Jitter: math.NaN()}}.Validate(), "retry.jitter"},
		{"spec name", Spec{New: ok}.Validate(), "name"},
		{"spec new", Spec{Name: "a"}.Validate(), "new"},
		{"spec restart", Spec{Name: "a", New: ok, Restart: 9}.Validate(), "restart"},
		{"spec shutdown", Spec{Name: "a", New: ok, Shutdown: -1}.Validate(), "shutdown"},
		{"probe check", Spec{Name: "a", New: ok, Health: Health{Readiness: &Probe{}}}.Validate(), "health.readiness.check"},
		{"process path", ProcessConfig{}.Validate(), "path"},
		{"http url", HTTPCheckConfig{URL: "ftp://x"}.Validate(), "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fe *config.FieldError
			if !errors.Is(tc.err, ErrInvalid) || !errors.As(tc.err, &fe) || fe.Path != tc.want {
				t.Fatalf("err %v, want a *config.FieldError at %q", tc.err, tc.want)
			}
		})
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	// Every problem of a spec at once, each at its own path.
	err := Spec{Name: "a/b", Restart: 9, Shutdown: -1, Health: Health{Liveness: &Probe{Period: -1}}}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if want := []string{"name", "new", "restart", "shutdown", "health.liveness.check", "health.liveness.period"}; !slices.Equal(paths, want) {
		t.Errorf("spec problems at %q, want %q", paths, want)
	}
	if _, err := New(Config{Intensity: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New with bad config: %v", err)
	}
}

func TestStrategyAndRestartText(t *testing.T) {
	var s Strategy
	if err := s.UnmarshalText([]byte("one_for_all")); err != nil || s != OneForAll {
		t.Fatalf("strategy %v %v", s, err)
	}
	if err := s.UnmarshalText([]byte("all_for_one")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad strategy: %v", err)
	}
	var r Restart
	if err := r.UnmarshalText([]byte("Transient")); err != nil || r != Transient {
		t.Fatalf("restart %v %v", r, err)
	}
	if err := r.UnmarshalText([]byte("sometimes")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad restart: %v", err)
	}
}

func TestChildContextCarriesPathAndLogger(t *testing.T) {
	got := make(chan string, 1)
	root := mustNew(t, Config{Name: "root"})
	mid := func() (Service, error) {
		m, err := New(Config{})
		if err != nil {
			return nil, err
		}
		return m, m.Add(context.Background(), Spec{Name: "leaf", New: func() (Service, error) {
			return ServiceFunc(func(ctx context.Context) error {
				sub, cancel := context.WithCancel(ctx) // identity survives derivation
				defer cancel()
				Logger(sub).Info("hello")
				got <- Path(sub)
				<-ctx.Done()
				return nil
			}), nil
		}})
	}
	mustAdd(t, root, Spec{Name: "mid", New: mid})
	running(t, root)
	if p := <-got; p != "root/mid/leaf" {
		t.Fatalf("Path = %q", p)
	}
	if Path(context.Background()) != "" || Logger(context.Background()) == nil {
		t.Fatal("outside a child")
	}
}

func TestMetricsRegisterAndCount(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	s := mustNew(t, Config{Name: "root", Intensity: 1}, WithMetrics(m))
	mustAdd(t, s, Spec{Name: "bad", New: func() (Service, error) {
		return ServiceFunc(func(context.Context) error { return errBoom }), nil
	}})
	if err := s.Serve(context.Background()); !errors.Is(err, ErrEscalated) {
		t.Fatal(err)
	}
	want := `
# HELP kiln_supervise_escalations_total Supervisors that exceeded their restart intensity.
# TYPE kiln_supervise_escalations_total counter
kiln_supervise_escalations_total{supervisor="root"} 1
# HELP kiln_supervise_exits_total Children that ended, by reason.
# TYPE kiln_supervise_exits_total counter
kiln_supervise_exits_total{child="bad",reason="error",supervisor="root"} 2
# HELP kiln_supervise_restarts_total Children restarted.
# TYPE kiln_supervise_restarts_total counter
kiln_supervise_restarts_total{child="bad",supervisor="root"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kiln_supervise_escalations_total", "kiln_supervise_exits_total", "kiln_supervise_restarts_total"); err != nil {
		t.Fatal(err)
	}
}

// A hook that blocks holds up nothing but itself: the children go on
// restarting, events beyond the queue are dropped and counted, and the
// rest arrive in order once the hook returns.
func TestBlockedEventHookNeverBlocksTheTree(t *testing.T) {
	const failures = 500
	release := make(chan struct{})
	var (
		mu        sync.Mutex
		delivered []Event
	)
	hook := func(e Event) {
		<-release
		mu.Lock()
		delivered = append(delivered, e)
		mu.Unlock()
	}
	m := NewMetrics()
	s := mustNew(t, Config{Name: "root", Intensity: 1 << 20, Period: time.Hour,
		Retry: backoff.Config{Initial: time.Nanosecond, Max: time.Nanosecond, Jitter: -1}},
		WithEventHook(hook), WithMetrics(m))
	starts := 0
	last := make(chan struct{})
	mustAdd(t, s, Spec{Name: "flap", New: func() (Service, error) {
		starts++ // only the supervisor's loop calls New
		n := starts
		return ServiceFunc(func(ctx context.Context) error {
			if n <= failures {
				return errBoom
			}
			close(last)
			<-ctx.Done()
			return nil
		}), nil
	}})
	stop := running(t, s)
	select {
	case <-last:
	case <-time.After(wait):
		t.Fatal("the child stopped restarting while the hook was blocked")
	}
	dropped := testutil.ToFloat64(m.dropped.WithLabelValues("root"))
	if dropped == 0 {
		t.Fatal("no events dropped while the hook was blocked")
	}
	close(release)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// started, then per failure exited and restarted, and a backoff
	// before every restart but the first.
	const emitted = 1 + failures + failures + failures - 1
	mu.Lock()
	defer mu.Unlock()
	if got := len(delivered) + int(dropped); got != emitted {
		t.Fatalf("delivered %d + dropped %v = %d, want the %d emitted", len(delivered), dropped, got, emitted)
	}
	if len(delivered) < eventQueueLen || delivered[0].Kind != EventStarted {
		t.Fatalf("delivered %d events starting with %v, want at least a full queue (%d) starting with started", len(delivered), delivered[0], eventQueueLen)
	}
	for i := 1; i < len(delivered); i++ {
		if delivered[i].Time.Before(delivered[i-1].Time) {
			t.Fatalf("event %d (%v) delivered before event %d (%v)", i, delivered[i], i-1, delivered[i-1])
		}
	}
}
