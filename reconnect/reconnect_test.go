package reconnect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/reconnect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// attempt is the test's answer to one Dial: fail with err, or hold a
// session until a cause is sent on end.
type attempt struct {
	err error
	end chan error
}

// harness runs a Loop whose Dial asks the test what to do, on a fake
// clock, and records its events.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	dials  chan chan attempt
	events chan reconnect.Event
	done   chan error
	stop   context.CancelFunc
}

var errRefused = errors.New("connection refused")

func start(t *testing.T, cfg reconnect.Config, opts ...reconnect.Option) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		clk:    clock.NewFake(time.Unix(1_700_000_000, 0)),
		dials:  make(chan chan attempt),
		events: make(chan reconnect.Event, 100),
		done:   make(chan error, 1),
	}
	dial := func(ctx context.Context) (reconnect.Hold, error) {
		ans := make(chan attempt)
		select {
		case h.dials <- ans:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var a attempt
		select {
		case a = <-ans:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if a.err != nil {
			return nil, a.err
		}
		return func(ctx context.Context) error {
			select {
			case err := <-a.end:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil
	}
	opts = append([]reconnect.Option{reconnect.WithClock(h.clk), reconnect.WithEvents(func(e reconnect.Event) { h.events <- e })}, opts...)
	loop, err := reconnect.New(cfg, dial, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- loop.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := h.wait(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

const patience = 20 * time.Second

// wait returns what Serve returned.
func (h *harness) wait() error {
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(patience):
		h.t.Fatal("Serve did not return")
		return nil
	}
}

// dial waits for the loop's next Dial and answers it.
func (h *harness) dial(a attempt) {
	h.t.Helper()
	select {
	case ans := <-h.dials:
		ans <- a
	case <-time.After(patience):
		h.t.Fatal("no dial")
	}
}

// connect answers the next Dial with a session and returns the channel
// that ends it.
func (h *harness) connect() chan error {
	h.t.Helper()
	end := make(chan error, 1)
	h.dial(attempt{end: end})
	if e := h.event(); e.Kind != reconnect.Connected {
		h.t.Fatalf("after a successful dial: %v, want connected", e)
	}
	return end
}

// event returns the loop's next event.
func (h *harness) event() reconnect.Event {
	h.t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(patience):
		h.t.Fatal("no event")
		return reconnect.Event{}
	}
}

// retrying checks that the next event is a Retrying of delay in with
// attempt number n.
func (h *harness) retrying(in time.Duration, n int) reconnect.Event {
	h.t.Helper()
	e := h.event()
	if e.Kind != reconnect.Retrying || e.In != in || e.Attempt != n {
		h.t.Fatalf("event %v (in %v, attempt %d), want retrying in %v, attempt %d", e, e.In, e.Attempt, in, n)
	}
	return e
}

// lost checks that the next event is a Lost after lasted with cause.
func (h *harness) lost(lasted time.Duration, cause error) {
	h.t.Helper()
	e := h.event()
	if e.Kind != reconnect.Lost || e.Lasted != lasted || !errors.Is(e.Err, cause) {
		h.t.Fatalf("event %v (lasted %v), want lost after %v with %v", e, e.Lasted, lasted, cause)
	}
}

// waitOut lets a delay pass on the fake clock, checking that the loop
// does not dial a moment before it is over.
func (h *harness) waitOut(delay time.Duration) {
	h.t.Helper()
	h.clk.BlockUntil(1)
	h.clk.Advance(delay - time.Millisecond)
	if n := h.clk.Waiters(); n != 1 {
		h.t.Fatalf("the wait of %v ended early (%d timers pending)", delay, n)
	}
	h.clk.Advance(time.Millisecond)
}

var retry = backoff.Config{Initial: time.Second, Max: time.Minute, Jitter: -1}

func TestFailedAttemptsWaitGrowingDelaysOnTheClock(t *testing.T) {
	h := start(t, reconnect.Config{Retry: retry})
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		h.dial(attempt{err: fmt.Errorf("dial: %w", errRefused)})
		if e := h.retrying(want, i+1); !errors.Is(e.Err, errRefused) {
			t.Fatalf("retrying carries %v, want the dial's error", e.Err)
		}
		h.waitOut(want)
	}
	h.connect()
}

func TestShortSessionsBackOffAndAStableOneStartsAfresh(t *testing.T) {
	h := start(t, reconnect.Config{Retry: retry})
	end := h.connect()
	// Sessions of 10s and 0s are short: the delays grow, 1s then 2s.
	h.clk.Advance(10 * time.Second)
	end <- io.EOF
	h.lost(10*time.Second, io.EOF)
	if e := h.retrying(time.Second, 1); e.Err != nil {
		t.Fatalf("retrying after a short session carries %v, want nil", e.Err)
	}
	h.waitOut(time.Second)
	end = h.connect()
	end <- io.EOF
	h.lost(0, io.EOF)
	h.retrying(2*time.Second, 2)
	h.waitOut(2 * time.Second)
	// A failed attempt in between counts on.
	h.dial(attempt{err: errRefused})
	h.retrying(4*time.Second, 3)
	h.waitOut(4 * time.Second)

	// A session of 30s is redialled at once, without the clock moving.
	end = h.connect()
	h.clk.Advance(30 * time.Second)
	end <- io.EOF
	h.lost(30*time.Second, io.EOF)
	end = h.connect()
	if n := h.clk.Waiters(); n != 0 {
		t.Fatalf("%d timers pending after a stable session", n)
	}
	// ... and the delays start afresh.
	end <- io.EOF
	h.lost(0, io.EOF)
	h.retrying(time.Second, 1)
}

func TestStableAfterIsConfigurable(t *testing.T) {
	h := start(t, reconnect.Config{Retry: retry, StableAfter: 5 * time.Second})
	end := h.connect()
	h.clk.Advance(5 * time.Second)
	end <- io.EOF
	h.lost(5*time.Second, io.EOF)
	h.connect() // at once: 5s was stable
}

func TestSessionEndedByCallerIsRedialledAtOnceKeepingTheCount(t *testing.T) {
	h := start(t, reconnect.Config{Retry: retry})
	end := h.connect()
	end <- io.EOF
	h.lost(0, io.EOF)
	h.retrying(time.Second, 1)
	h.waitOut(time.Second)

	end = h.connect()
	end <- fmt.Errorf("request cancelled: %w", reconnect.ErrByCaller)
	h.lost(0, reconnect.ErrByCaller)
	end = h.connect() // no Retrying, no delay
	if n := h.clk.Waiters(); n != 0 {
		t.Fatalf("%d timers pending after a session ended by a caller", n)
	}
	// The count went on from where it was.
	end <- io.EOF
	h.lost(0, io.EOF)
	h.retrying(2*time.Second, 2)
}

func TestServeReturnsNilWhenCtxEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(h *harness)
	}{
		{"while dialling", func(h *harness) {
			select {
			case <-h.dials: // the Dial now waits for its answer, or ctx
			case <-time.After(patience):
				h.t.Fatal("no dial")
			}
		}},
		{"while holding", func(h *harness) { h.connect() }},
		{"while waiting to retry", func(h *harness) {
			h.dial(attempt{err: errRefused})
			h.retrying(time.Second, 1)
			h.clk.BlockUntil(1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, reconnect.Config{Retry: retry})
			tc.at(h)
			h.stop()
			if err := h.wait(); err != nil {
				t.Fatalf("Serve: %v, want nil", err)
			}
			select {
			case e := <-h.events:
				t.Fatalf("event %v after ctx ended", e)
			default:
			}
		})
	}
}

func TestLogsKeepTheDriversMessagesAndKeys(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := start(t, reconnect.Config{Retry: retry}, reconnect.WithLogger(zap.New(core), "dev "))
	h.dial(attempt{err: errRefused})
	h.retrying(time.Second, 1)
	h.waitOut(time.Second)
	end := h.connect()
	h.clk.Advance(3 * time.Second)
	end <- io.EOF
	h.lost(3*time.Second, io.EOF)
	h.retrying(2*time.Second, 2)

	failed := logs.FilterMessage("dev connect failed").All()
	if len(failed) != 1 {
		t.Fatalf("%d connect failed logs, want 1", len(failed))
	}
	if f := failed[0].ContextMap(); f["error"] != errRefused.Error() || f["retry_in"] != time.Second {
		t.Errorf("connect failed fields %v", f)
	}
	short := logs.FilterMessage("dev session ended soon after it began").All()
	if len(short) != 1 {
		t.Fatalf("%d short session logs, want 1", len(short))
	}
	if f := short[0].ContextMap(); f["lasted"] != 3*time.Second || f["retry_in"] != 2*time.Second {
		t.Errorf("short session fields %v", f)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	err := reconnect.Config{
		Retry:       backoff.Config{Initial: -time.Second},
		StableAfter: -time.Second,
	}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if len(paths) != 2 || paths[0] != "retry.initial" && paths[0] != "retry" || paths[1] != "stable_after" {
		t.Fatalf("problems at %q (%v), want retry.initial and stable_after", paths, err)
	}
	if _, err := reconnect.New(reconnect.Config{StableAfter: -1}, func(context.Context) (reconnect.Hold, error) { return nil, nil }); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("New with a bad Config: %v, want config.ErrInvalid", err)
	}
	if err := (reconnect.Config{}).Validate(); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}
