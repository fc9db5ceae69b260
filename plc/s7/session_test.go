package s7_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

const (
	msgConnected    = "s7 connected"
	msgShortSession = "s7 session ended soon after it began"
)

// sessionEnd is what the driver did after the PLC dropped a session:
// either it logged a backoff delay, or it reconnected at once.
type sessionEnd struct {
	lasted, retryIn time.Duration
	backedOff       bool
}

// dropSession has the simulated PLC drop the connection on the next
// request, reads to trigger it, and waits for the driver's reaction to
// the loss.
func dropSession(t *testing.T, srv *s7sim.Server, d *s7.Driver, logs *observer.ObservedLogs, tags []plc.Tag) sessionEnd {
	t.Helper()
	connects, shorts := logs.FilterMessage(msgConnected).Len(), logs.FilterMessage(msgShortSession).Len()
	srv.DropAfter(1)
	if out := read(t, d, tags...); out[0].Quality.IsGood() {
		t.Fatal("read on the dropped connection was good")
	}
	var end sessionEnd
	eventually(t, "the driver to back off or reconnect", func() bool {
		if all := logs.FilterMessage(msgShortSession).All(); len(all) > shorts {
			f := all[len(all)-1].ContextMap()
			end = sessionEnd{lasted: f["lasted"].(time.Duration), retryIn: f["retry_in"].(time.Duration), backedOff: true}
			return true
		}
		return logs.FilterMessage(msgConnected).Len() > connects
	})
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
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	cfg := s7.Config{
		Reconnect:       backoff.Config{Initial: time.Second, Max: time.Minute, Jitter: -1},
		BreakerFailures: 1000, // this test is about reconnecting, not the breaker
	}
	d := open(t, srv.Addr(), cfg, s7.WithClock(clk), s7.WithLogger(zap.New(core)), s7.WithRegisterer(reg))
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	if out := read(t, d, tags...); !out[0].Quality.IsGood() {
		t.Fatalf("first read: %v", out[0].Quality)
	}
	connects := func() int { return logs.FilterMessage(msgConnected).Len() }
	// The first read may run before the connection is logged.
	eventually(t, "the first connection to be logged", func() bool { return connects() == 1 })

	// waitOut lets the backoff delay pass on the fake clock, checking that
	// the driver does not reconnect a moment before it is over.
	waitOut := func(delay time.Duration) {
		t.Helper()
		before := connects()
		clk.BlockUntil(1) // the backoff timer: no ticker runs while disconnected
		if out := read(t, d, tags...); out[0].Quality.Reason != plc.ReasonCommFailure {
			t.Fatalf("read during the backoff delay: %v", out[0].Quality)
		}
		clk.Advance(delay - time.Millisecond)
		if n := clk.Waiters(); n != 1 || connects() != before {
			t.Fatalf("the backoff wait ended before its delay of %v (%d timers pending, %d connects)", delay, n, connects())
		}
		clk.Advance(time.Millisecond)
		eventually(t, "the reconnect after the delay", func() bool { return connects() == before+1 })
	}

	// Sessions that end at once, or after 10s, are followed by delays
	// that grow: 1s, 2s, 4s.
	var delays []time.Duration
	for i, lasted := range []time.Duration{0, 10 * time.Second, 0} {
		clk.Advance(lasted)
		end := dropSession(t, srv, d, logs, tags)
		if !end.backedOff {
			t.Fatalf("session %d, which lasted %v, was followed by an immediate reconnect", i+1, lasted)
		}
		if end.lasted != lasted {
			t.Errorf("session %d: logged lasted=%v, want %v", i+1, end.lasted, lasted)
		}
		delays = append(delays, end.retryIn)
		waitOut(end.retryIn)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("retry_in after the short sessions %v, want %v", delays, want)
		}
	}

	// A session that lasted 30s is rebuilt at once, with no delay logged.
	clk.Advance(30 * time.Second)
	if end := dropSession(t, srv, d, logs, tags); end.backedOff {
		t.Fatalf("after a 30s session the driver backed off for %v", end.retryIn)
	}
	if out := read(t, d, tags...); !out[0].Quality.IsGood() {
		t.Fatalf("read after the immediate reconnect: %v", out[0].Quality)
	}
	// ... and the backoff starts afresh.
	end := dropSession(t, srv, d, logs, tags)
	if !end.backedOff || end.retryIn != time.Second || end.lasted != 0 {
		t.Fatalf("after the stable session: %+v, want a backoff of 1s", end)
	}
	waitOut(end.retryIn)

	if n := counterValue(t, reg, "kiln_s7_reconnects_total"); int(n) != connects()-1 {
		t.Errorf("reconnects counter %v after %d connects", n, connects())
	}
}

// TestCancelledRequestReconnectsAtOnce cancels a read soon after the
// connection is made: the connection is dropped (its answer may still
// come), but the caller's cancellation says nothing about the PLC, so the
// driver redials at once rather than backing off.
func TestCancelledRequestReconnectsAtOnce(t *testing.T) {
	srv := startSim(t, s7sim.Config{})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	core, logs := observer.New(zap.InfoLevel)
	cfg := s7.Config{Timeout: time.Hour, Reconnect: backoff.Config{Initial: time.Second, Jitter: -1}}
	d := open(t, srv.Addr(), cfg, s7.WithClock(clk), s7.WithLogger(zap.New(core)))
	tags := []plc.Tag{tag("x", "MW0", "INT")}
	read(t, d, tags...)
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
	// The simulator's handler of the first connection still sleeps on the
	// latency, so a second open connection is the driver's redial, made
	// without the fake clock moving.
	eventually(t, "the driver to redial", func() bool { return srv.Connections() == 2 })
	if n := logs.FilterMessage(msgShortSession).Len(); n != 0 {
		t.Errorf("a cancelled request was taken for a short session (%d backoffs logged)", n)
	}
}
