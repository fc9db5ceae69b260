package forward

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/transport"
)

// manualPublisher keeps every done callback for the test to call.
type manualPublisher struct {
	mu      sync.Mutex
	pending []pendingMsg
	calls   int
	arrived chan struct{}
}

type pendingMsg struct {
	payload string
	done    func(error)
}

func newManual() *manualPublisher { return &manualPublisher{arrived: make(chan struct{}, 100)} }

func (p *manualPublisher) Publish(_ context.Context, msgs []transport.Message, done func(int, error)) error {
	p.mu.Lock()
	p.calls++
	for i, m := range msgs {
		i := i
		p.pending = append(p.pending, pendingMsg{string(m.Payload), func(err error) { done(i, err) }})
	}
	p.mu.Unlock()
	p.arrived <- struct{}{}
	return nil
}

func (p *manualPublisher) Close() error { return nil }

// take removes and returns the pending messages once there are n.
func (p *manualPublisher) take(t *testing.T, n int) []pendingMsg {
	t.Helper()
	for {
		p.mu.Lock()
		if len(p.pending) >= n {
			got := p.pending
			p.pending = nil
			p.mu.Unlock()
			return got
		}
		p.mu.Unlock()
		select {
		case <-p.arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("waiting for %d messages", n)
		}
	}
}

func TestAcksOnlyTheConfirmedPrefix(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 10)
	dst := newManual()
	f, err := New(s, dst, Config{BatchSize: 5, MaxInFlight: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	msgs := dst.take(t, 10)
	for i, m := range msgs {
		if m.payload != string(rune('0'+i)) {
			t.Fatalf("published out of order: %q at %d", m.payload, i)
		}
	}
	// confirm all but the first: nothing may be acknowledged
	for _, m := range msgs[1:] {
		m.done(nil)
	}
	waitFor(t, "confirmations counted", func() bool { return f.Status().Confirmed == 9 })
	if st := s.Stats(); st.Records != 10 {
		t.Fatalf("spool acknowledged past an unconfirmed message: %+v", st)
	}
	msgs[0].done(nil)
	waitFor(t, "prefix acknowledged", func() bool { return s.Stats().Records == 0 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestShutdownWaitsForInFlightUpToDeadline(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 6)
	dst := newManual()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	f, err := New(s, dst, Config{BatchSize: 3, MaxInFlight: 6, ShutdownTimeout: 5 * time.Second, ConfirmTimeout: time.Hour}, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	msgs := dst.take(t, 6)
	cancel()
	// a confirmation during shutdown still counts
	msgs[0].done(nil)
	msgs[1].done(nil)
	waitFor(t, "confirmed during shutdown", func() bool { return s.Stats().Records == 4 })
	select {
	case err := <-errc:
		t.Fatalf("Serve returned %v with messages in flight before the deadline", err)
	default:
	}
	fill(t, s, 6, 1) // stopped: takes no new records
	clk.BlockUntil(1)
	clk.Advance(5 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 5 {
		t.Fatalf("after shutdown: %+v", st)
	}
	dst.mu.Lock()
	calls := dst.calls
	dst.mu.Unlock()
	if calls != 2 {
		t.Fatalf("%d publish calls, want 2", calls)
	}
	// the next Serve sends the unconfirmed ones again, in order
	ctx, cancel = context.WithCancel(context.Background())
	go func() { errc <- f.Serve(ctx) }()
	again := dst.take(t, 5)
	for i, m := range again {
		if want := string(rune('2' + i)); m.payload != want {
			t.Fatalf("after restart got %q at %d, want %q", m.payload, i, want)
		}
		m.done(nil)
	}
	waitFor(t, "all acknowledged", func() bool { return s.Stats().Records == 0 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestOpenBreakerStopsPublishing(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 4)
	dst := newManual()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := Config{BatchSize: 4, MaxInFlight: 4, Retry: backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1},
		Breaker: breaker.Config{Failures: 3, OpenFor: time.Hour}}
	f, err := New(s, dst, cfg, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	for attempt := range 3 {
		for _, m := range dst.take(t, 4) {
			m.done(errLinkDown)
		}
		waitFor(t, "retry scheduled", func() bool { return f.Status().Retries == uint64(attempt+1) })
		clk.BlockUntil(1)
		clk.Advance(time.Second)
	}
	waitFor(t, "breaker open", func() bool { return f.Status().Breaker == "open" })
	for range 5 { // backoff rounds while open: no publish reaches the link
		clk.BlockUntil(1)
		clk.Advance(time.Second)
	}
	dst.mu.Lock()
	calls := dst.calls
	dst.mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d publish calls, want 3 (none while open)", calls)
	}
	if v := testutil.ToFloat64(collectorFor(f, "kiln_forward_breaker_state")); v != 2 {
		t.Fatalf("breaker_state metric %v", v)
	}
	if v := testutil.ToFloat64(collectorFor(f, "kiln_forward_lag_records")); v != 4 {
		t.Fatalf("lag_records metric %v", v)
	}
	st := f.Status()
	if st.Lag.Records != 4 || st.Lag.Bytes <= 0 {
		t.Fatalf("status %+v", st)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// collectorFor exposes one of f's metrics as a collector for testutil.
func collectorFor(f *Forwarder, name string) prometheus.Collector {
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		all := make(chan prometheus.Metric, 32)
		f.Collect(all)
		close(all)
		for m := range all {
			if strings.Contains(m.Desc().String(), `fqName: "`+name+`"`) {
				ch <- m
			}
		}
	})
}

func TestSecondServeAndBadConfigRefused(t *testing.T) {
	s := openSpool(t)
	f, err := New(s, newManual(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	waitFor(t, "first Serve running", func() bool { return f.running.Load() })
	if err := f.Serve(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Serve: %v", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{BatchSize: -1}, "batch_size"},
		{Config{BatchSize: 100, MaxInFlight: 10}, "max_in_flight"},
		{Config{ConfirmTimeout: -time.Second}, "confirm_timeout"},
		{Config{Breaker: breaker.Config{OpenFor: -1}}, "breaker.open_for"},
		{Config{Retry: backoff.Config{Multiplier: 0.5}}, "retry.multiplier"},
	} {
		var fe *config.FieldError
		if _, err := New(s, newManual(), c.cfg); !errors.As(err, &fe) || fe.Path != c.field {
			t.Errorf("%+v: %v, want error on %s", c.cfg, err, c.field)
		}
	}
}

// A failed batch ahead of confirmed ones: the forwarder goes back to it,
// sends it alone, and only once it is confirmed sends the later messages
// again, in order, so they follow it at the destination.
func TestRetryGoesBackToFirstUnconfirmedInOrder(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 10)
	dst := newManual()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := Config{BatchSize: 3, MaxInFlight: 9, ConfirmTimeout: time.Hour,
		Retry: backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1}}
	f, err := New(s, dst, cfg, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()

	first := dst.take(t, 9)
	payloads(t, first, "0 1 2 3 4 5 6 7 8")
	first[1].done(errLinkDown) // batch 0..2 fails, the later ones arrive
	first[0].done(nil)
	first[2].done(nil)
	for _, m := range first[3:] {
		m.done(nil)
	}
	waitFor(t, "retry scheduled", func() bool { return f.Status().Retries == 1 })
	clk.BlockUntil(1)
	clk.Advance(time.Second)

	probe := dst.take(t, 3)
	payloads(t, probe, "1 2 3")
	dst.mu.Lock()
	calls := dst.calls
	dst.mu.Unlock()
	if calls != 4 {
		t.Fatalf("%d publish calls while the probe batch is unconfirmed, want 4", calls)
	}
	for _, m := range probe {
		m.done(nil)
	}
	rest := dst.take(t, 6)
	payloads(t, rest, "4 5 6 7 8 9")
	for _, m := range rest {
		m.done(nil)
	}
	waitFor(t, "all acknowledged", func() bool { return s.Stats().Records == 0 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func payloads(t *testing.T, msgs []pendingMsg, want string) {
	t.Helper()
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i] = m.payload
	}
	if g := strings.Join(got, " "); g != want {
		t.Fatalf("published %q, want %q", g, want)
	}
}

// A shutdown that abandons the half-open breaker's trial batch must not
// leave the trial outstanding: the next Serve publishes at once.
func TestShutdownDuringBreakerTrialLetsNextServePublish(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 4)
	dst := newManual()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := Config{BatchSize: 4, MaxInFlight: 4, ConfirmTimeout: time.Hour, ShutdownTimeout: time.Second,
		Retry:   backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1},
		Breaker: breaker.Config{Failures: 1, OpenFor: time.Nanosecond}}
	f, err := New(s, dst, cfg, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	for _, m := range dst.take(t, 4) {
		m.done(errLinkDown) // opens the breaker
	}
	waitFor(t, "retry scheduled", func() bool { return f.Status().Retries == 1 })
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	dst.take(t, 4) // the half-open trial, left unconfirmed
	if st := f.Status(); st.Breaker != "half-open" {
		t.Fatalf("breaker %s during the trial", st.Breaker)
	}
	cancel()
	// past the shutdown deadline (the loop may see cancel after an Advance)
	for done := false; !done; {
		clk.Advance(time.Second)
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(10 * time.Millisecond):
		}
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { errc <- f.Serve(ctx) }()
	for _, m := range dst.take(t, 4) {
		m.done(nil)
	}
	waitFor(t, "all acknowledged", func() bool { return s.Stats().Records == 0 })
	if st := f.Status(); st.Breaker != "closed" {
		t.Fatalf("breaker %s after a confirmed batch", st.Breaker)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// steppingClock moves forward by step at every reading, so time passes
// between any two decisions of the forwarder, as on a busy machine.
type steppingClock struct {
	*clock.Fake
	step time.Duration
}

func (c steppingClock) Now() time.Time {
	c.Advance(c.step)
	return c.Fake.Now()
}

// A backoff that ends between the forwarder's check and its choice of
// the next wake-up must still lead to the retry, not to a wait for an
// event that never comes.
func TestRetryWhenBackoffEndsBetweenChecks(t *testing.T) {
	s := openSpool(t)
	fill(t, s, 0, 1)
	dst := newManual()
	clk := steppingClock{clock.NewFake(time.Unix(1_700_000_000, 0)), 600 * time.Millisecond}
	cfg := Config{BatchSize: 1, MaxInFlight: 1, ConfirmTimeout: time.Hour,
		Retry:   backoff.Config{Initial: time.Second, Max: time.Second, Jitter: -1},
		Breaker: breaker.Config{Failures: 100}}
	f, err := New(s, dst, cfg, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	dst.take(t, 1)[0].done(errLinkDown) // one completion: nothing else wakes the forwarder
	// the retry: the Fake fires a timer due now at the next Advance (a
	// real timer fires at once)
	deadline := time.Now().Add(10 * time.Second)
	for {
		clk.Fake.Advance(0)
		dst.mu.Lock()
		n := len(dst.pending)
		dst.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no retry after the backoff ended")
		}
		time.Sleep(time.Millisecond)
	}
	dst.take(t, 1)[0].done(nil)
	waitFor(t, "all acknowledged", func() bool { return s.Stats().Records == 0 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryBadFieldWithItsPath(t *testing.T) {
	err := Config{BatchSize: -1, ConfirmTimeout: -1, Retry: backoff.Config{Initial: -1}, Breaker: breaker.Config{Failures: -2}}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if want := []string{"batch_size", "confirm_timeout", "retry.initial", "breaker.failures"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}
