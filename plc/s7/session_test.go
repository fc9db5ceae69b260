package s7_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/reconnect"
)

// sessionEvents records a driver's session events (WithEvents) for a
// test to take in order.
type sessionEvents chan reconnect.Event

func newSessionEvents() (sessionEvents, s7.Option) {
	ev := make(sessionEvents, 1000)
	return ev, s7.WithEvents(func(e reconnect.Event) { ev <- e })
}

// next returns the next event, waiting up to 20s for it.
func (ev sessionEvents) next(t *testing.T) reconnect.Event {
	t.Helper()
	select {
	case e := <-ev:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no session event")
		return reconnect.Event{}
	}
}

// expect returns the next event, which must be of kind k.
func (ev sessionEvents) expect(t *testing.T, k reconnect.EventKind) reconnect.Event {
	t.Helper()
	e := ev.next(t)
	if e.Kind != k {
		t.Fatalf("session event %v, want %v", e, k)
	}
	return e
}

// none checks that no event is pending.
func (ev sessionEvents) none(t *testing.T) {
	t.Helper()
	select {
	case e := <-ev:
		t.Fatalf("unexpected session event %v", e)
	default:
	}
}

// sessionEnd is what the driver did after the PLC dropped a session:
// it waited a backoff delay (retryIn), or it reconnected at once.
type sessionEnd struct {
	lasted, retryIn time.Duration
	backedOff       bool
}

// dropSession has the simulated PLC drop the connection on the next
// request, reads to trigger it, and takes the driver's reaction to the
// loss from its events.
func dropSession(t *testing.T, srv *s7sim.Server, d *s7.Driver, ev sessionEvents, tags []plc.Tag) sessionEnd {
	t.Helper()
	srv.DropAfter(1)
	if out := read(t, d, tags...); out[0].Quality.IsGood() {
		t.Fatal("read on the dropped connection was good")
	}
	end := sessionEnd{lasted: ev.expect(t, reconnect.Lost).Lasted}
	switch e := ev.next(t); e.Kind {
	case reconnect.Retrying:
		end.retryIn, end.backedOff = e.In, true
	case reconnect.Connected:
	default:
		t.Fatalf("after a lost session: %v", e)
	}
	return end
}

// TestShortSessionsAreRetriedWithGrowingBackoff runs against a PLC that
// accepts the connection and drops it at the first request, as a CPU out
// of connection resources or a firewall that resets after the handshake
// does: each reconnect waits for a growing delay on the driver's clock,
// and only a session that lasted 30s makes the next reconnect immediate
// and starts the backoff afresh.
func TestShortSessionsAreRetriedWithGrowingBackoff(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ev, withEvents := newSessionEvents()
	reg := prometheus.NewRegistry()
	cfg := s7.Config{
		Retry:   backoff.Config{Initial: time.Second, Max: time.Minute, Jitter: -1},
		Breaker: breaker.Config{Failures: 1000}, // this test is about reconnecting, not the breaker
	}
	d := open(t, srv.Addr(), cfg, s7.WithClock(clk), withEvents, s7.WithRegisterer(reg))
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	if out := read(t, d, tags...); !out[0].Quality.IsGood() {
		t.Fatalf("first read: %v", out[0].Quality)
	}
	ev.expect(t, reconnect.Connected)
	connects := 1

	// waitOut lets the backoff delay pass on the fake clock, checking that
	// the driver does not reconnect a moment before it is over.
	waitOut := func(delay time.Duration) {
		t.Helper()
		clk.BlockUntil(1) // the backoff timer: no ticker runs while disconnected
		if out := read(t, d, tags...); out[0].Quality.Reason != plc.ReasonCommFailure {
			t.Fatalf("read during the backoff delay: %v", out[0].Quality)
		}
		clk.Advance(delay - time.Millisecond)
		if n := clk.Waiters(); n != 1 {
			t.Fatalf("the backoff wait ended before its delay of %v (%d timers pending)", delay, n)
		}
		ev.none(t)
		clk.Advance(time.Millisecond)
		ev.expect(t, reconnect.Connected)
		connects++
	}

	// Sessions that end at once, or after 10s, are followed by delays
	// that grow: 1s, 2s, 4s.
	var delays []time.Duration
	for i, lasted := range []time.Duration{0, 10 * time.Second, 0} {
		clk.Advance(lasted)
		end := dropSession(t, srv, d, ev, tags)
		if !end.backedOff {
			t.Fatalf("session %d, which lasted %v, was followed by an immediate reconnect", i+1, lasted)
		}
		if end.lasted != lasted {
			t.Errorf("session %d: lost after %v, want %v", i+1, end.lasted, lasted)
		}
		delays = append(delays, end.retryIn)
		waitOut(end.retryIn)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays after the short sessions %v, want %v", delays, want)
		}
	}

	// A session that lasted 30s is rebuilt at once.
	clk.Advance(30 * time.Second)
	if end := dropSession(t, srv, d, ev, tags); end.backedOff {
		t.Fatalf("after a 30s session the driver backed off for %v", end.retryIn)
	}
	connects++
	if out := read(t, d, tags...); !out[0].Quality.IsGood() {
		t.Fatalf("read after the immediate reconnect: %v", out[0].Quality)
	}
	// ... and the backoff starts afresh.
	end := dropSession(t, srv, d, ev, tags)
	if !end.backedOff || end.retryIn != time.Second || end.lasted != 0 {
		t.Fatalf("after the stable session: %+v, want a backoff of 1s", end)
	}
	waitOut(end.retryIn)

	if n := counterValue(t, reg, "kiln_s7_reconnects_total"); int(n) != connects-1 {
		t.Errorf("reconnects counter %v after %d connects", n, connects)
	}
}

// TestCancelledRequestReconnectsAtOnce cancels a read soon after the
// connection is made: the connection is dropped (its answer may still
// come), but the caller's cancellation says nothing about the PLC, so the
// driver redials at once rather than backing off.
func TestCancelledRequestReconnectsAtOnce(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ev, withEvents := newSessionEvents()
	cfg := s7.Config{Timeout: time.Hour, ConnectTimeout: time.Hour, Retry: backoff.Config{Initial: time.Second, Jitter: -1}}
	d := open(t, srv.Addr(), cfg, s7.WithClock(clk), withEvents)
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	read(t, d, tags...)
	ev.expect(t, reconnect.Connected)
	srv.SetLatency(time.Hour)
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := srv.Requests()
	go func() {
		for srv.Requests() == before {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if err := r.Read(ctx, make([]plc.Sample, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
	if e := ev.expect(t, reconnect.Lost); !errors.Is(e.Err, reconnect.ErrByCaller) {
		t.Fatalf("the session was lost with %v, want reconnect.ErrByCaller", e.Err)
	}
	// The simulator's handler of the first connection still sleeps on the
	// latency, so a second open connection is the driver's redial, made
	// without the fake clock moving: no backoff delay came first. (The
	// redial's handshake waits on the latency too, within the hour of
	// ConnectTimeout, so no further event comes.)
	eventually(t, "the driver to redial", func() bool { return srv.Connections() == 2 })
	ev.none(t)
}
