package supervise

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// childMain, when a test file sets it, runs instead of the tests in a
// copy of the test binary started with SUPERVISE_TEST_CHILD=1.
var childMain func()

func TestMain(m *testing.M) {
	if childMain != nil && os.Getenv("SUPERVISE_TEST_CHILD") == "1" {
		childMain()
		return
	}
	goleak.VerifyTestMain(m)
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// wait bounds how long a test waits for something that must happen; it is
// a guard against hangs, not a timing assertion.
const wait = 20 * time.Second

// eventLog collects a supervisor's events for a test.
type eventLog struct {
	ch chan Event
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 4096)} }

func (e *eventLog) hook(ev Event) { e.ch <- ev }

// next returns the first event matching all of kind, child (when not
// empty), skipping others.
func (e *eventLog) next(t *testing.T, kind EventKind, child string) Event {
	t.Helper()
	tm := time.NewTimer(wait)
	defer tm.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind && (child == "" || ev.Child == child) {
				return ev
			}
		case <-tm.C:
			t.Fatalf("no %s event for %q", kind, child)
		}
	}
}

// none fails if an event of kind for child is queued now.
func (e *eventLog) none(t *testing.T, kind EventKind, child string) {
	t.Helper()
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind && (child == "" || ev.Child == child) {
				t.Fatalf("unexpected event %v", ev)
			}
		default:
			return
		}
	}
}

// running serves s in the background; stop cancels and returns Serve's
// result.
func running(t *testing.T, s *Supervisor) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- s.Serve(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-res:
			case <-time.After(wait):
				t.Fatal("Serve did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// journal records what children did, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
	ch      chan string
}

func newJournal() *journal { return &journal{ch: make(chan string, 4096)} }

func (j *journal) add(s string) {
	j.mu.Lock()
	j.entries = append(j.entries, s)
	j.mu.Unlock()
	j.ch <- s
}

// expect reads the next entries and fails unless they are want, in order.
func (j *journal) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-j.ch:
			if got != w {
				t.Fatalf("journal: got %q, want %q (want sequence %v)", got, w, want)
			}
		case <-time.After(wait):
			t.Fatalf("journal: waiting for %q (want sequence %v)", w, want)
		}
	}
}

// quiet fails if the journal has unread entries.
func (j *journal) quiet(t *testing.T) {
	t.Helper()
	select {
	case got := <-j.ch:
		t.Fatalf("journal: unexpected %q", got)
	default:
	}
}

// family makes instances of one child; each logs "name#n start" when it
// is made and "name#n stop" when cancelled, and returns what is sent
// on its fail channel.
type family struct {
	name string
	j    *journal

	mu    sync.Mutex
	insts []*instance
}

type instance struct {
	n    int
	fail chan error
}

func newFamily(name string, j *journal) *family { return &family{name: name, j: j} }

func (f *family) spec(r Restart) Spec {
	return Spec{Name: f.name, Restart: r, New: func() (Service, error) {
		f.mu.Lock()
		in := &instance{n: len(f.insts) + 1, fail: make(chan error, 1)}
		f.insts = append(f.insts, in)
		f.mu.Unlock()
		// Logged here: the supervisor calls New in start order, while the
		// Serve goroutines may begin in any order.
		f.j.add(fmt.Sprintf("%s#%d start", f.name, in.n))
		return ServiceFunc(func(ctx context.Context) error {
			select {
			case err := <-in.fail:
				return err
			case <-ctx.Done():
				f.j.add(fmt.Sprintf("%s#%d stop", f.name, in.n))
				return ctx.Err()
			}
		}), nil
	}}
}

// fail makes the latest instance return err.
func (f *family) fail(err error) {
	f.mu.Lock()
	in := f.insts[len(f.insts)-1]
	f.mu.Unlock()
	in.fail <- err
}

func (f *family) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.insts)
}

// childStatus returns the named child's entry in s.Status().
func childStatus(t *testing.T, s *Supervisor, name string) ChildStatus {
	t.Helper()
	for _, c := range s.Status().Children {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no child %q in status", name)
	return ChildStatus{}
}

// eventually polls cond until it holds (bounded by wait).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustNew(t testing.TB, cfg Config, opts ...Option) *Supervisor {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAdd(t testing.TB, s *Supervisor, specs ...Spec) {
	t.Helper()
	for _, sp := range specs {
		if err := s.Add(context.Background(), sp); err != nil {
			t.Fatal(err)
		}
	}
}
