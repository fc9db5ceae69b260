package forward

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errLinkDown = errors.New("link down")

// flakyPublisher is a destination whose behaviour the test switches:
// healthy, failing every message, or stalling (accepting and never
// confirming). It records every message it confirmed, in order.
type flakyPublisher struct {
	mu       sync.Mutex
	mode     string // "ok", "fail", "lossy", "refuse", "stall", "block"
	blocked  int
	got      []string
	stalled  int
	calls    int
	inflight int
	maxIn    int
	async    bool
	wg       sync.WaitGroup
	changed  chan struct{}
}

func newFlaky() *flakyPublisher {
	return &flakyPublisher{mode: "ok", changed: make(chan struct{}, 1)}
}

func (p *flakyPublisher) set(mode string) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
}

func (p *flakyPublisher) Publish(ctx context.Context, msgs []transport.Message, done func(int, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.mode == "block" { // back-pressure that never lifts
		p.blocked++
		p.mu.Unlock()
		<-ctx.Done()
		p.mu.Lock()
		return ctx.Err()
	}
	switch p.mode {
	case "refuse":
		return errLinkDown
	case "stall":
		p.stalled += len(msgs)
		return nil
	case "fail":
		for i := range msgs {
			done(i, errLinkDown)
		}
		return nil
	case "lossy": // every third batch is lost, the others delivered
		if p.calls%3 == 0 {
			for i := range msgs {
				done(i, errLinkDown)
			}
			return nil
		}
	}
	p.inflight += len(msgs)
	p.maxIn = max(p.maxIn, p.inflight)
	for _, m := range msgs {
		p.got = append(p.got, string(m.Payload))
	}
	if !p.async {
		for i := range msgs {
			done(i, nil)
		}
		p.inflight -= len(msgs)
	} else {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for i := len(msgs) - 1; i >= 0; i-- { // confirmations out of order
				done(i, nil)
			}
			p.mu.Lock()
			p.inflight -= len(msgs)
			p.mu.Unlock()
		}()
	}
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return nil
}

func (p *flakyPublisher) Close() error { p.wg.Wait(); return nil }

func (p *flakyPublisher) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	s, err := spool.Open(spool.Config{Dir: t.TempDir(), SegmentBytes: 8192, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fill(t *testing.T, s *spool.Spool, from, n int) {
	t.Helper()
	pub := spool.NewPublisher(s)
	defer pub.Close()
	for i := from; i < from+n; i++ {
		m := transport.Message{Key: "gw", Payload: []byte(strconv.Itoa(i))}
		if err := pub.Publish(context.Background(), []transport.Message{m}, func(int, error) {}); err != nil {
			t.Fatal(err)
		}
	}
}

// inOrder checks that got, read as a consumer that takes only the next
// expected number and ignores repeats, yields 0..n-1.
func inOrder(got []string, n int) error {
	next := 0
	for _, g := range got {
		v, err := strconv.Atoi(g)
		if err != nil {
			return err
		}
		if v == next {
			next++
		} else if v > next {
			return fmt.Errorf("got %d before %d", v, next)
		}
	}
	if next != n {
		return fmt.Errorf("only %d of %d delivered", next, n)
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func fastConfig() Config {
	return Config{
		BatchSize:      16,
		MaxInFlight:    64,
		ConfirmTimeout: 200 * time.Millisecond,
		Retry:          backoff.Config{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Breaker:        breaker.Config{Failures: 3, OpenFor: 20 * time.Millisecond},
	}
}

func TestForwardsInOrderThroughFailuresStallsAndRecovery(t *testing.T) {
	s := openSpool(t)
	dst := newFlaky()
	dst.async = true
	f, err := New(s, dst, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		err := f.Serve(ctx)
		if err != nil {
			t.Logf("Serve returned early: %v", err)
		}
		errc <- err
	}()
	t.Cleanup(func() {
		if t.Failed() {
			dst.mu.Lock()
			t.Logf("publisher: mode %s, %d calls, %d received; forwarder: %+v; spool: %+v",
				dst.mode, dst.calls, len(dst.got), f.Status(), s.Stats())
			dst.mu.Unlock()
		}
	})

	fill(t, s, 0, 200)
	waitFor(t, "first 200", func() bool { return len(dst.received()) >= 200 })

	dst.set("fail")
	fill(t, s, 200, 100)
	waitFor(t, "breaker to open", func() bool { return f.Status().Breaker == "open" })
	if st := s.Stats(); st.Records < 100 {
		t.Fatalf("spool acknowledged unconfirmed records: %d left", st.Records)
	}
	if lag := f.Status().Lag; lag.Records < 100 || lag.OldestAge <= 0 {
		t.Fatalf("lag while the link is down: %+v", lag)
	}
	dst.set("stall")
	waitFor(t, "stalled publishes", func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return dst.stalled > 0 })
	dst.set("block")
	waitFor(t, "a blocked Publish", func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return dst.blocked > 0 })
	dst.set("refuse")
	fill(t, s, 300, 50)
	dst.set("ok")
	waitFor(t, "all records acknowledged", func() bool { return s.Stats().Records == 0 })
	if err := inOrder(dst.received(), 350); err != nil {
		t.Fatal(err)
	}
	st := f.Status()
	if st.Retries == 0 || st.Failed == 0 || st.Lag.Records != 0 {
		t.Fatalf("status: %+v", st)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	dst.Close()
}

// Over a link that loses some batches while later ones get through, the
// forwarder goes back to the first lost message each time, so the
// destination still receives the whole spool in order (with repeats).
func TestLossyLinkDeliversInOrder(t *testing.T) {
	s := openSpool(t)
	dst := newFlaky()
	dst.async = true
	dst.set("lossy")
	cfg := fastConfig()
	cfg.Breaker.Failures = 1000 // keep publishing through the losses
	f, err := New(s, dst, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 0, 300)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Serve(ctx) }()
	waitFor(t, "all records acknowledged", func() bool { return s.Stats().Records == 0 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	dst.Close()
	// a later batch may arrive before a lost earlier one is sent again,
	// so a consumer taking the next expected number ignores it until
	// it comes again
	next := 0
	for _, g := range dst.received() {
		if g == strconv.Itoa(next) {
			next++
		}
	}
	if next != 300 {
		t.Fatalf("a consumer taking the next expected number got only %d of 300", next)
	}
	if st := f.Status(); st.Retries == 0 || st.Failed == 0 {
		t.Fatalf("no losses happened: %+v", st)
	}
}
