package pulsartest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func subscribe(t *testing.T, c pulsar.Client, o pulsar.ConsumerOptions) pulsar.Consumer {
	t.Helper()
	cons, err := c.Subscribe(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	return cons
}

func produce(t *testing.T, c pulsar.Client, o pulsar.ProducerOptions) pulsar.Producer {
	t.Helper()
	p, err := c.CreateProducer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// sendAsync sends n messages "prefix-i" with keys k(i%keys) and waits for all receipts.
func sendAsync(t *testing.T, p pulsar.Producer, prefix string, n, keys int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		p.SendAsync(ctxT(t), &pulsar.ProducerMessage{
			Payload: []byte(fmt.Sprintf("%s-%d", prefix, i)),
			Key:     fmt.Sprintf("k%d", i%keys),
		}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			if err != nil {
				errs <- err
			}
			wg.Done()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAsyncBatchedAndCompressedRoundTrip(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	for _, tc := range []struct {
		name     string
		batching bool
		comp     pulsar.CompressionType
	}{
		{"plain", false, pulsar.NoCompression},
		{"batched", true, pulsar.NoCompression},
		{"batched-lz4", true, pulsar.LZ4},
		{"batched-zstd", true, pulsar.ZSTD},
		{"lz4", false, pulsar.LZ4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "persistent://public/default/async-" + tc.name
			cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
			p := produce(t, c, pulsar.ProducerOptions{
				Topic: topic, DisableBatching: !tc.batching, CompressionType: tc.comp,
				BatchingMaxPublishDelay: 5 * time.Millisecond,
			})
			const n = 500
			sendAsync(t, p, "m", n, 1)
			for i := 0; i < n; i++ {
				m, err := cons.Receive(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("m-%d", i); string(m.Payload()) != want {
					t.Fatalf("got %q, want %q (order lost)", m.Payload(), want)
				}
				if err := cons.Ack(m); err != nil {
					t.Fatal(err)
				}
			}
			st, _ := b.Stats(topic)
			if st.Published != n {
				t.Fatalf("published %d, want %d", st.Published, n)
			}
			if tc.batching && st.Entries >= n {
				t.Fatalf("batching on but %d entries for %d messages", st.Entries, n)
			}
		})
	}
}

// receiveAll drains consumers until total messages arrived, acking each,
// and returns the payloads per consumer.
func receiveAll(t *testing.T, total int, conss ...pulsar.Consumer) [][]pulsar.Message {
	t.Helper()
	out := make([][]pulsar.Message, len(conss))
	ch := make(chan struct {
		i int
		m pulsar.Message
	}, total)
	ctx := ctxT(t)
	for i, cons := range conss {
		go func() {
			for {
				m, err := cons.Receive(ctx)
				if err != nil {
					return
				}
				_ = cons.Ack(m)
				ch <- struct {
					i int
					m pulsar.Message
				}{i, m}
			}
		}()
	}
	for n := 0; n < total; n++ {
		select {
		case r := <-ch:
			out[r.i] = append(out[r.i], r.m)
		case <-ctx.Done():
			t.Fatalf("received %d of %d", n, total)
		}
	}
	return out
}

func TestSharedSubscriptionManyProducersAndConsumers(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/shared"
	var conss []pulsar.Consumer
	for i := 0; i < 3; i++ {
		conss = append(conss, subscribe(t, c, pulsar.ConsumerOptions{
			Topic: topic, SubscriptionName: "s", Type: pulsar.Shared, ReceiverQueueSize: 10,
		}))
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendAsync(t, p, fmt.Sprintf("p%d", i), 250, 1)
		}()
	}
	got := receiveAll(t, 1000, conss...)
	wg.Wait()
	seen := map[string]bool{}
	for i, ms := range got {
		if len(ms) == 0 {
			t.Errorf("consumer %d got nothing", i)
		}
		for _, m := range ms {
			if seen[string(m.Payload())] {
				t.Errorf("%s delivered twice", m.Payload())
			}
			seen[string(m.Payload())] = true
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("got %d distinct messages, want 1000", len(seen))
	}
}

func TestKeySharedKeepsEachKeyOnOneConsumer(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/keyshared"
	var conss []pulsar.Consumer
	for i := 0; i < 3; i++ {
		conss = append(conss, subscribe(t, c, pulsar.ConsumerOptions{
			Topic: topic, SubscriptionName: "s", Type: pulsar.KeyShared,
		}))
	}
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "m", 300, 12)
	got := receiveAll(t, 300, conss...)
	owner := map[string]int{}
	busy := 0
	for i, ms := range got {
		if len(ms) > 0 {
			busy++
		}
		for _, m := range ms {
			if o, ok := owner[m.Key()]; ok && o != i {
				t.Fatalf("key %s went to consumers %d and %d", m.Key(), o, i)
			}
			owner[m.Key()] = i
		}
	}
	if busy < 2 {
		t.Fatalf("only %d of 3 consumers got keys", busy)
	}
}

func TestFailoverMovesToStandbyWhenActiveLeaves(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/failover"
	a, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Failover, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	standby := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Failover, Name: "b"})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "m", 10, 1)
	got := receiveAll(t, 10, a)
	if len(got[0]) != 10 {
		t.Fatalf("active consumer got %d", len(got[0]))
	}
	a.Close()
	sendAsync(t, p, "n", 10, 1)
	got = receiveAll(t, 10, standby)
	if string(got[0][0].Payload()) != "n-0" {
		t.Fatalf("standby got %q first", got[0][0].Payload())
	}
}

func TestExclusiveSubscriptionRefusesSecondConsumer(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/exclusive"
	subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Exclusive})
	_, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Exclusive})
	if err == nil || !strings.Contains(err.Error(), "ConsumerBusy") {
		t.Fatalf("second exclusive consumer: %v, want ConsumerBusy", err)
	}
}

func TestNackIsRedeliveredWithCount(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/nack"
	cons := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "s", Type: pulsar.Shared, NackRedeliveryDelay: 50 * time.Millisecond,
	})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic})
	if _, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	m, err := cons.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.RedeliveryCount() != 0 {
		t.Fatalf("first delivery count %d", m.RedeliveryCount())
	}
	cons.Nack(m)
	m2, err := cons.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(m2.Payload()) != "x" || m2.RedeliveryCount() != 1 {
		t.Fatalf("redelivery %q count %d", m2.Payload(), m2.RedeliveryCount())
	}
	if err := cons.Ack(m2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := b.Stats(topic); return st.Subscriptions["s"].Backlog == 0 })
}

func TestUnackedAreRedeliveredWhenConsumerLeaves(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/leave"
	first, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Shared})
	if err != nil {
		t.Fatal(err)
	}
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "m", 5, 1)
	for i := 0; i < 5; i++ {
		m, err := first.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			_ = first.Ack(m)
		}
	}
	// Acks are grouped by the client; wait until the broker has them.
	waitFor(t, func() bool { st, _ := b.Stats(topic); return st.Subscriptions["s"].Acked == 2 })
	st, _ := b.Stats(topic)
	want := pulsartest.SubscriptionStats{Type: "Shared", Consumers: 1, Backlog: 3, Unacked: 3, Acked: 2}
	if st.Published != 5 || st.Entries != 5 || st.Producers != 1 || st.Subscriptions["s"] != want {
		t.Fatalf("stats before the consumer left: %+v", st)
	}
	first.Close()
	second := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Shared})
	for i := 2; i < 5; i++ {
		m, err := second.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("m-%d", i); string(m.Payload()) != want || m.RedeliveryCount() != 1 {
			t.Fatalf("got %q (redeliveries %d), want %s again", m.Payload(), m.RedeliveryCount(), want)
		}
	}
	st, _ = b.Stats(topic)
	if ss := st.Subscriptions["s"]; ss.Redelivered != 3 || ss.Backlog != 3 || ss.Unacked != 3 {
		t.Fatalf("stats after redelivery: %+v", ss)
	}
}

func TestCumulativeAck(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/cumulative"
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Exclusive})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "m", 20, 1)
	var last pulsar.Message
	for i := 0; i < 20; i++ {
		m, err := cons.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		last = m
	}
	if err := cons.AckCumulative(last); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := b.Stats(topic); return st.Subscriptions["s"].Backlog == 0 })
}

func TestSubscriptionPositions(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/positions"
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "old", 3, 1)
	latest := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "latest"})
	earliest := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "earliest", SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	sendAsync(t, p, "new", 1, 1)
	if m, err := latest.Receive(ctxT(t)); err != nil || string(m.Payload()) != "new-0" {
		t.Fatalf("latest got %v %v, want new-0", m, err)
	}
	if m, err := earliest.Receive(ctxT(t)); err != nil || string(m.Payload()) != "old-0" {
		t.Fatalf("earliest got %v %v, want old-0", m, err)
	}
}

func TestDeduplicationByProducerNameAndSequenceID(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/dedup"
	send := func(p pulsar.Producer, from, to int64) {
		for seq := from; seq < to; seq++ {
			s := seq
			if _, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte(fmt.Sprint(s)), SequenceID: &s}); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := c.CreateProducer(pulsar.ProducerOptions{Topic: topic, Name: "gw-1", DisableBatching: true})
	if err != nil {
		t.Fatal(err)
	}
	send(p, 0, 10)
	p.Close()
	// A producer reopened under the same name continues after the last
	// sequence id the broker holds for it.
	p2 := produce(t, c, pulsar.ProducerOptions{Topic: topic, Name: "gw-1", DisableBatching: true})
	if _, err := p2.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("implicit")}); err != nil {
		t.Fatal(err)
	}
	if got := p2.LastSequenceID(); got != 10 {
		t.Fatalf("reopened producer's sequence id %d, want 10", got)
	}
	send(p2, 5, 15) // 5..10 are duplicates
	st, _ := b.Stats(topic)
	if st.Published != 15 || st.Deduplicated != 6 {
		t.Fatalf("published %d dedup %d, want 15 and 6", st.Published, st.Deduplicated)
	}
}

func TestSeekAndLastMessageID(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/seek"
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	sendAsync(t, p, "m", 3, 1)
	var ids []pulsar.MessageID
	for i := 0; i < 3; i++ {
		m, err := cons.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = cons.Ack(m)
		ids = append(ids, m.ID())
	}
	last, err := cons.GetLastMessageIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 1 || last[0].EntryID() != ids[2].EntryID() {
		t.Fatalf("last message ids %v, want entry %d", last, ids[2].EntryID())
	}
	if err := cons.Seek(ids[1]); err != nil {
		t.Fatal(err)
	}
	m, err := cons.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// The broker resets the cursor to the sought message; the client then
	// resumes after it.
	if string(m.Payload()) != "m-2" {
		t.Fatalf("after seek got %q, want m-2", m.Payload())
	}
}

func TestInvalidTopicNameRefused(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	if _, err := c.CreateProducer(pulsar.ProducerOptions{Topic: "persistent://only-tenant"}); err == nil {
		t.Fatal("producer on a malformed topic was created")
	}
}

func TestSecondProducerWithTheSameNameIsBusy(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/busy"
	produce(t, c, pulsar.ProducerOptions{Topic: topic, Name: "gw"})
	_, err := c.CreateProducer(pulsar.ProducerOptions{Topic: topic, Name: "gw"})
	if err == nil || !strings.Contains(err.Error(), "ProducerBusy") {
		t.Fatalf("second producer named gw: %v, want ProducerBusy", err)
	}
}
