package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/wire"
)

const e2eRegistry = `tenants:
  - id: acme
    namespaces: [plant-1, plant-2]
  - id: globex
    namespaces: [main]
  - id: initech
    namespaces: [line-a]
`

// e2eTopics are the sample topics and the samples each gets: 100k in all.
var e2eTopics = []struct {
	tenant, ns string
	samples    int
}{{"acme", "plant-1", 25_000}, {"acme", "plant-2", 25_000}, {"globex", "main", 30_000}, {"initech", "line-a", 20_000}}

const perMessage = 100

// e2eBatch is message m of a topic: samples m*100 … m*100+99 (or the
// span given), tags <tenant>.<ns>.T0…T49, one millisecond apart.
func e2eBatch(ten, ns string, seq uint64, from, n int) transport.Message {
	b := &wire.Batch{Source: "gw-" + ns, Tenant: ten, Seq: seq}
	for i := from; i < from+n; i++ {
		b.Samples = append(b.Samples, plc.Sample{
			Tag:   fmt.Sprintf("%s.%s.T%d", ten, ns, i%50),
			Value: plc.IntValue(plc.DInt, int64(i)), Quality: plc.Good,
			Time: t0.Add(time.Duration(i) * time.Millisecond),
		})
	}
	return wire.ToMessage(b, nil)
}

func pulsarFactories(b *pulsartest.Broker, replica int) (tenant.SubscriberFunc, tenant.PublisherFunc) {
	cc := kpulsar.ClientConfig{URL: b.URL(), OperationTimeout: 5 * time.Second,
		Retry: backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}}
	sub := func(_ context.Context, topic string) (transport.Subscriber, error) {
		return kpulsar.NewSubscriber(kpulsar.SubscriberConfig{Client: cc, Topic: topic, Subscription: "kiln-ingestor",
			Type: kpulsar.Shared, Earliest: true, NackDelay: 20 * time.Millisecond, ReceiverQueueSize: 100})
	}
	pub := func(_ context.Context, topic string) (transport.Publisher, error) {
		return kpulsar.NewPublisher(kpulsar.PublisherConfig{Client: cc, Topic: topic, ProducerName: fmt.Sprintf("ingestor-%d", replica)})
	}
	return sub, pub
}

// publishAll publishes msgs to topic through a producer of its own name
// and waits for every receipt.
func publishAll(t *testing.T, b *pulsartest.Broker, producer, topic string, msgs []transport.Message) {
	t.Helper()
	p := newProducer(t, b, producer, topic)
	defer p.Close()
	publishWith(t, p, topic, msgs)
}

// newProducer returns a publisher of its own producer name on topic once
// its producer exists. pulsar-client-go v0.19.0 races on a connection
// that closes while a producer is being created on it (the race detector
// reports it), so a test that drops the broker's connections creates its
// producers first.
func newProducer(t *testing.T, b *pulsartest.Broker, producer, topic string) *kpulsar.Publisher {
	t.Helper()
	p, err := kpulsar.NewPublisher(kpulsar.PublisherConfig{
		Client: kpulsar.ClientConfig{URL: b.URL(), Retry: backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}},
		Topic:  topic, ProducerName: producer,
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for p.Health() != nil {
		if time.Now().After(deadline) {
			p.Close()
			t.Fatalf("%s: no producer after a minute: %v", topic, p.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p
}

// publishWith publishes msgs through p and waits for every receipt.
func publishWith(t *testing.T, p *kpulsar.Publisher, topic string, msgs []transport.Message) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Publish(ctx, msgs, func(i int, err error) {
		if err != nil {
			t.Errorf("%s: publish %d: %v", topic, i, err)
		}
		wg.Done()
	}); err != nil {
		t.Error(err)
		return
	}
	if !waitGroup(&wg, time.Minute) {
		t.Errorf("%s: receipts missing after a minute", topic)
	}
}

// waitGroup waits for wg up to d; false if it timed out.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestTwoReplicasExactlyOnceFromPulsarToPostgres runs two ingestors on one
// shared subscription per topic against pulsartest and PostgreSQL, with
// 100k samples from three tenants, a tenth of the batches published a
// second time, overlapping batches, a dropped broker connection in the
// middle (so unacknowledged messages come again), a batch of the wrong
// tenant and malformed messages.
func TestTwoReplicasExactlyOnceFromPulsarToPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	broker, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	reg, err := tenant.Parse("tenants.yaml", []byte(e2eRegistry))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cfg := Config{MaxBatchSamples: 2000, MaxBatchDelay: 20 * time.Millisecond, MaxDeliveries: 2,
		Retry: backoff.Config{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	var replicas []*Ingestor
	var serving sync.WaitGroup
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	for replica := range 2 {
		sub, pub := pulsarFactories(broker, replica)
		st, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		in, err := New(cfg, reg, st, sub, pub)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, in)
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := in.Serve(sctx); err != nil {
				t.Error(err)
			}
		}()
	}

	var pubs sync.WaitGroup
	for _, tp := range e2eTopics {
		topic := fmt.Sprintf("persistent://%s/%s/samples", tp.tenant, tp.ns)
		var first, again []transport.Message
		for m := 0; m*perMessage < tp.samples; m++ {
			msg := e2eBatch(tp.tenant, tp.ns, uint64(m+1), m*perMessage, perMessage)
			first = append(first, msg)
			if m%10 == 3 {
				again = append(again, msg)
			}
			if m%25 == 7 && (m+1)*perMessage < tp.samples {
				// a batch of its own (the source sent these samples
				// again, re-batched) overlapping the end of this batch
				// and the start of the next
				again = append(again, e2eBatch(tp.tenant, tp.ns, 1<<32+uint64(m+1), m*perMessage+50, perMessage))
			}
		}
		gw, resend := newProducer(t, broker, "gw-"+tp.ns, topic), newProducer(t, broker, "gw-"+tp.ns+"-resend", topic)
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			defer gw.Close()
			defer resend.Close()
			half := len(first) / 2
			publishWith(t, gw, topic, first[:half])
			publishWith(t, resend, topic, again)
			publishWith(t, gw, topic, first[half:])
		}()
	}
	// Faults: a batch of globex's on acme's topic, two malformed messages
	// on initech's, and a dropped connection while data flows.
	publishAll(t, broker, "intruder", "persistent://acme/plant-1/samples", []transport.Message{e2eBatch("globex", "main", 999, 0, 10)})
	publishAll(t, broker, "broken", "persistent://initech/line-a/samples", []transport.Message{
		{Payload: []byte{0xff, 0xff}, Properties: map[string]string{wire.PropContentType: wire.ContentType}},
		{Payload: []byte("{}"), Properties: map[string]string{wire.PropContentType: "application/json"}},
	})
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	count := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM kiln_samples").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dead := func(ten, reason string) float64 {
		var n float64
		for _, in := range replicas {
			n += testutil.ToFloat64(in.m.deadLetters.WithLabelValues(ten, reason))
		}
		return n
	}
	// The dead-letter producers exist once their messages are counted:
	// none is being created when the connections drop (see newProducer).
	waitFor(t, "a quarter written, the dead letters moved", func() bool {
		return count() >= 25_000 && dead("initech", ReasonMalformed) >= 2 && dead("acme", ReasonTenantMismatch) >= 1
	})
	broker.DropConnections()
	pubs.Wait()

	backlog := func() uint64 {
		var n uint64
		for _, tp := range e2eTopics {
			st, _ := broker.Stats(fmt.Sprintf("persistent://%s/%s/samples", tp.tenant, tp.ns))
			n += st.Subscriptions["kiln-ingestor"].Backlog
		}
		return n
	}
	// Done when every row is in, nothing waits, and every dead letter the
	// broker holds is counted: a message whose ack was lost in the drop
	// is moved again, and that move may still be in flight.
	unsettled := func() bool {
		for _, c := range []struct{ topic, ten, reason string }{
			{"persistent://acme/plant-1/samples-dlq", "acme", ReasonTenantMismatch},
			{"persistent://initech/line-a/samples-dlq", "initech", ReasonMalformed},
		} {
			if st, _ := broker.Stats(c.topic); float64(st.Published) != dead(c.ten, c.reason) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(60 * time.Second)
	for count() < 100_000 || backlog() > 0 || dead("initech", ReasonMalformed) < 2 || dead("acme", ReasonTenantMismatch) < 1 || unsettled() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within 60s: %d rows, backlog %d, dead letters %v/%v, unsettled %v", count(), backlog(),
				dead("initech", ReasonMalformed), dead("acme", ReasonTenantMismatch), unsettled())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if !waitGroup(&serving, time.Minute) {
		t.Fatal("replicas still serving a minute after their context ended")
	}

	rows, err := conn.Query(ctx, `SELECT tenant, count(*), count(*) FILTER (WHERE tag NOT LIKE tenant || '.%'),
		count(DISTINCT (tag, ts)) FROM kiln_samples GROUP BY tenant ORDER BY tenant`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][3]int{}
	for rows.Next() {
		var ten string
		var n, foreign, distinct int
		if err := rows.Scan(&ten, &n, &foreign, &distinct); err != nil {
			t.Fatal(err)
		}
		got[ten] = [3]int{n, foreign, distinct}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][3]int{"acme": {50_000, 0, 50_000}, "globex": {30_000, 0, 30_000}, "initech": {20_000, 0, 20_000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows per tenant (rows, rows with another tenant's tags, distinct): %v, want %v", got, want)
	}
	var ts0, ts1 time.Time
	if err := conn.QueryRow(ctx, "SELECT min(ts), max(ts) FROM kiln_samples WHERE tenant = 'globex'").Scan(&ts0, &ts1); err != nil {
		t.Fatal(err)
	}
	if !ts0.Equal(t0) || !ts1.Equal(t0.Add(29_999*time.Millisecond)) {
		t.Errorf("globex spans %v … %v", ts0, ts1)
	}
	// Dead letters are at-least-once like every other arrow: an ack lost
	// with the dropped connection sends a message there a second time,
	// and counts it again.
	for _, c := range []struct {
		topic       string
		ten, reason string
		atLeast     float64
	}{
		{"persistent://acme/plant-1/samples-dlq", "acme", ReasonTenantMismatch, 1},
		{"persistent://initech/line-a/samples-dlq", "initech", ReasonMalformed, 2},
	} {
		st, _ := broker.Stats(c.topic)
		if n := dead(c.ten, c.reason); n < c.atLeast || float64(st.Published) != n {
			t.Errorf("%s: %d messages, %v counted, want at least %v", c.topic, st.Published, n, c.atLeast)
		}
	}
	var perReplica []float64
	for _, in := range replicas {
		var n float64
		for _, ten := range []string{"acme", "globex", "initech"} {
			n += testutil.ToFloat64(in.m.rows.WithLabelValues(ten))
		}
		perReplica = append(perReplica, n)
	}
	if perReplica[0]+perReplica[1] != 100_000 || perReplica[0] == 0 || perReplica[1] == 0 {
		t.Errorf("rows inserted per replica %v: want both working, 100000 in all", perReplica)
	}
	t.Logf("rows per replica %v", perReplica)
}
