package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

// serve runs s.Serve in the background until the test ends.
func serve(t *testing.T, s *kpulsar.Subscriber, h func(context.Context, transport.Message) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

func TestServeAcksAfterSuccessAndRedeliversAfterFailure(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/serve"
	s := newSubscriber(t, kpulsar.SubscriberConfig{
		Client: client(b), Topic: topic, Subscription: "ingest", NackDelay: 50 * time.Millisecond, Concurrency: 4,
	})
	var mu sync.Mutex
	attempts := map[string]int{}
	ok := map[string]bool{}
	serve(t, s, func(_ context.Context, m transport.Message) error {
		mu.Lock()
		defer mu.Unlock()
		k := string(m.Payload)
		attempts[k]++
		if attempts[k] == 1 && k[len(k)-1] == '0' { // every tenth fails once
			return errors.New("database down")
		}
		ok[k] = true
		return nil
	})
	waitFor(t, "subscribed", func() bool { return s.Health() == nil })
	// Unbatched: a nack redelivers a whole batch (as in Pulsar without
	// batch-index acknowledgment), which would blur the exact counts.
	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic, DisableBatching: true})
	noErrors(t, publish(t, p, msgs("m", 100)))
	waitFor(t, "all handled and acked", func() bool {
		st, _ := b.Stats(topic)
		mu.Lock()
		defer mu.Unlock()
		return len(ok) == 100 && st.Subscriptions["ingest"].Backlog == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for k, n := range attempts {
		failedOnce := k[len(k)-1] == '0'
		if (failedOnce && n != 2) || (!failedOnce && n != 1) {
			t.Errorf("%s handled %d times", k, n)
		}
	}
}

func TestPoisonMessageGoesToDeadLetterTopic(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/poison"
	s := newSubscriber(t, kpulsar.SubscriberConfig{
		Client: client(b), Topic: topic, Subscription: "ingest", NackDelay: 20 * time.Millisecond, MaxRedeliveries: 2,
	})
	dlq := newSubscriber(t, kpulsar.SubscriberConfig{
		Client: client(b), Topic: topic + "-ingest-DLQ", Subscription: "ops", Earliest: true,
	})
	var tries atomic.Int32
	serve(t, s, func(_ context.Context, m transport.Message) error {
		if string(m.Payload) == "poison" {
			tries.Add(1)
			return errors.New("cannot decode")
		}
		return nil
	})
	waitFor(t, "subscribed", func() bool { return s.Health() == nil })
	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic})
	noErrors(t, publish(t, p, []transport.Message{{Payload: []byte("poison")}, {Payload: []byte("fine")}}))
	d, err := dlq.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Message().Payload) != "poison" {
		t.Fatalf("dead letter %q", d.Message().Payload)
	}
	if n := tries.Load(); n != 3 {
		t.Fatalf("handled %d times before dead-lettering, want 1 + 2 redeliveries", n)
	}
	waitFor(t, "original acked", func() bool {
		st, _ := b.Stats(topic)
		return st.Subscriptions["ingest"].Backlog == 0
	})
}

func TestSubscriptionTypes(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	for _, typ := range []string{kpulsar.Shared, kpulsar.KeyShared, kpulsar.Failover, kpulsar.Exclusive} {
		t.Run(typ, func(t *testing.T) {
			topic := "persistent://acme/line1/type-" + typ
			cfg := kpulsar.SubscriberConfig{Client: client(b), Topic: topic, Subscription: "s", Type: typ}
			s1 := newSubscriber(t, cfg)
			waitFor(t, "first subscribed", func() bool { return s1.Health() == nil })
			s2 := newSubscriber(t, cfg)
			if typ == kpulsar.Exclusive {
				time.Sleep(200 * time.Millisecond)
				if err := s2.Health(); !errors.Is(err, kpulsar.ErrUnavailable) {
					t.Fatalf("second exclusive subscriber: %v, want it refused and retrying", err)
				}
			} else {
				waitFor(t, "second subscribed", func() bool { return s2.Health() == nil })
			}
			var mu sync.Mutex
			count := map[int]int{}
			keys := map[string]int{}
			for i, s := range []*kpulsar.Subscriber{s1, s2} {
				serve(t, s, func(_ context.Context, m transport.Message) error {
					mu.Lock()
					count[i]++
					if o, ok := keys[m.Key]; ok && o != i && typ == kpulsar.KeyShared {
						t.Errorf("key %s on subscribers %d and %d", m.Key, o, i)
					}
					keys[m.Key] = i
					mu.Unlock()
					return nil
				})
			}
			p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic, DisableBatching: true})
			ms := msgs("m", 60)
			for i := range ms {
				ms[i].Key = fmt.Sprintf("k%d", i%6)
			}
			noErrors(t, publish(t, p, ms))
			waitFor(t, "all received", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return count[0]+count[1] == 60
			})
			mu.Lock()
			defer mu.Unlock()
			both := count[0] > 0 && count[1] > 0
			if spread := typ == kpulsar.Shared || typ == kpulsar.KeyShared; both != spread {
				t.Fatalf("%s: subscribers got %d and %d", typ, count[0], count[1])
			}
		})
	}
}

func TestReceiveEndsOnCloseAndContext(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	s, err := kpulsar.NewSubscriber(kpulsar.SubscriberConfig{Client: client(b), Topic: "persistent://acme/line1/idle", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("receive with a deadline: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Receive(context.Background())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("receive across close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNackedMessageWaitsForTheNackDelay(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/nack-delay"
	slow := newSubscriber(t, kpulsar.SubscriberConfig{Client: client(b), Topic: topic, Subscription: "slow", Earliest: true, NackDelay: time.Hour})
	fast := newSubscriber(t, kpulsar.SubscriberConfig{Client: client(b), Topic: topic, Subscription: "fast", Earliest: true, NackDelay: 20 * time.Millisecond})
	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic, DisableBatching: true})
	noErrors(t, publish(t, p, msgs("m", 1)))
	for _, s := range []*kpulsar.Subscriber{slow, fast} {
		d, err := s.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Nack(); err != nil {
			t.Fatal(err)
		}
	}
	noErrors(t, publish(t, p, msgs("n", 1)))

	// With a short delay the nacked message comes back, counted.
	got := map[string]int{}
	for len(got) < 2 {
		d, err := fast.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got[string(d.Message().Payload)] = d.Redeliveries()
		_ = d.Ack()
	}
	if got["m-0"] != 1 || got["n-0"] != 0 {
		t.Fatalf("fast subscription: redeliveries %v, want m-0 once redelivered", got)
	}
	// With an hour's delay only the next message arrives meanwhile.
	d, err := slow.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Message().Payload) != "n-0" {
		t.Fatalf("slow subscription got %q before its nack delay passed, want n-0", d.Message().Payload)
	}
	_ = d.Ack()
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	if d, err := slow.Receive(ctx); err == nil {
		t.Fatalf("nacked %q redelivered before its delay", d.Message().Payload)
	}
}
