package pulsar_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/forward"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/spool"
)

// TestBrokerRestartMidStreamLosesNothing streams 100k messages from a
// spool through the forwarder and the Publisher while the broker stops and
// restarts on the same port: every message arrives, and the client's
// re-sends of what the broker already had are dropped by its
// deduplication, so the topic holds each message once.
func TestBrokerRestartMidStreamLosesNothing(t *testing.T) {
	const total = 100_000
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/stream"

	sp, err := spool.Open(spool.Config{Dir: t.TempDir(), Sync: "interval"})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	pub := newPublisher(t, kpulsar.PublisherConfig{
		Client: client(b), Topic: topic, ProducerName: "gw-stream",
		Breaker: breaker.Config{Failures: 1000},
	})
	fwd, err := forward.New(sp, pub, forward.Config{
		BatchSize: 500, MaxInFlight: 5000,
		Retry:   backoff.Config{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Breaker: breaker.Config{Failures: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fwdDone := make(chan error, 1)
	go func() { fwdDone <- fwd.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-fwdDone; err != nil {
			t.Errorf("forwarder: %v", err)
		}
	}()

	sub := newSubscriber(t, kpulsar.SubscriberConfig{
		Client: client(b), Topic: topic, Subscription: "ingest", Earliest: true, ReceiverQueueSize: 2000,
	})
	var mu sync.Mutex
	seen := make(map[string]bool, total)
	dups := 0
	serve(t, sub, func(_ context.Context, m transport.Message) error {
		mu.Lock()
		if seen[string(m.Payload)] {
			dups++
		}
		seen[string(m.Payload)] = true
		mu.Unlock()
		return nil
	})
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}

	appendRange := func(from, to int) {
		var recs [][]byte
		for i := from; i < to; i++ {
			recs = append(recs, spool.AppendMessage(nil, transport.Message{Key: "plc-1", Payload: []byte(fmt.Sprintf("m-%06d", i))}))
			if len(recs) == 1000 || i == to-1 {
				if err := sp.Append(ctxT(t), recs...); err != nil {
					t.Error(err)
					return
				}
				recs = recs[:0]
			}
		}
	}
	appended := make(chan struct{})
	go func() { // the gateway keeps spooling, also during the outage
		defer close(appended)
		appendRange(0, total)
	}()
	waitFor(t, "a fifth through", func() bool { return received() >= total/5 })
	// The link dies after the broker stored some batches but before their
	// receipts arrived: the client must send them again.
	st0, _ := b.Stats(topic)
	b.WithholdReceipts(true)
	waitFor(t, "stored without receipt", func() bool {
		st, _ := b.Stats(topic)
		return st.Published >= st0.Published+2000
	})
	b.Stop()
	b.WithholdReceipts(false)
	time.Sleep(200 * time.Millisecond)
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	<-appended
	waitFor(t, "every message delivered", func() bool { return received() == total })

	st, _ := b.Stats(topic)
	t.Logf("broker: %d stored, %d duplicates dropped; subscriber saw %d redeliveries; publisher %+v",
		st.Published, st.Deduplicated, dups, pub.Status())
	if st.Published != total {
		t.Fatalf("topic holds %d messages, want %d: duplicates stored", st.Published, total)
	}
	if st.Deduplicated < 2000 {
		t.Fatalf("broker dropped %d re-sent messages, want the 2000+ stored without receipt", st.Deduplicated)
	}
}
