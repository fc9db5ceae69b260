package pulsartest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func TestTokenAuthAndGrants(t *testing.T) {
	b := startBroker(t, pulsartest.Config{Auth: pulsartest.AuthConfig{
		Tokens: map[string]string{"tok-a": "tenant-a", "tok-b": "tenant-b"},
		Grants: []pulsartest.Grant{
			{Role: "tenant-a", Namespace: "acme/*", Actions: []pulsartest.Action{pulsartest.ActionProduce, pulsartest.ActionConsume}},
			{Role: "tenant-b", Namespace: "globex/plant", Actions: []pulsartest.Action{pulsartest.ActionConsume}},
		},
	}})
	withToken := func(tok string) func(*pulsar.ClientOptions) {
		return func(o *pulsar.ClientOptions) { o.Authentication = pulsar.NewAuthenticationToken(tok) }
	}
	a := newClient(t, b, withToken("tok-a"))
	bc := newClient(t, b, withToken("tok-b"))

	const own = "persistent://acme/line1/samples"
	p := produce(t, a, pulsar.ProducerOptions{Topic: own})
	cons := subscribe(t, a, pulsar.ConsumerOptions{Topic: own, SubscriptionName: "s"})
	if _, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Receive(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	_, err := bc.CreateProducer(pulsar.ProducerOptions{Topic: own})
	if err == nil || !strings.Contains(err.Error(), "AuthorizationError") {
		t.Fatalf("foreign producer: %v, want AuthorizationError", err)
	}
	_, err = bc.Subscribe(pulsar.ConsumerOptions{Topic: own, SubscriptionName: "spy"})
	if err == nil || !strings.Contains(err.Error(), "AuthorizationError") {
		t.Fatalf("foreign consumer: %v, want AuthorizationError", err)
	}
	_, err = bc.CreateProducer(pulsar.ProducerOptions{Topic: "persistent://globex/plant/t"})
	if err == nil || !strings.Contains(err.Error(), "AuthorizationError") {
		t.Fatalf("consume-only role produced: %v, want AuthorizationError", err)
	}
	subscribe(t, bc, pulsar.ConsumerOptions{Topic: "persistent://globex/plant/t", SubscriptionName: "s"})

	bad := newClient(t, b, withToken("forged"), func(o *pulsar.ClientOptions) { o.OperationTimeout = time.Second })
	if _, err := bad.CreateProducer(pulsar.ProducerOptions{Topic: own}); err == nil {
		t.Fatal("client with an unknown token created a producer")
	}
	if st, _ := b.Stats(own); st.Published != 1 {
		t.Fatalf("published %d, want 1", st.Published)
	}
}

func TestAuthConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  pulsartest.AuthConfig
		want string
	}{
		{"empty role", pulsartest.AuthConfig{Grants: []pulsartest.Grant{{Namespace: "a/b"}}}, "grants[0].role"},
		{"bad namespace", pulsartest.AuthConfig{Grants: []pulsartest.Grant{{Role: "r", Namespace: "ab"}}}, "grants[0].namespace"},
		{"bad action", pulsartest.AuthConfig{Grants: []pulsartest.Grant{{Role: "r", Namespace: "a/b", Actions: []pulsartest.Action{"delete"}}}}, "grants[0].actions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pulsartest.Config{Auth: tc.cfg}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestRestartOnSamePortKeepsMessages(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/restart"
	// Batching on: the client's unbatched send path races with its own
	// reconnect (pulsar-client-go v0.19.0, seen with -race).
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxPublishDelay: time.Millisecond})
	sendAsync(t, p, "before", 5, 1)
	addr := b.Addr()
	b.Stop()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", b.Addr(), addr)
	}
	sendAsync(t, p, "after", 5, 1) // the producer reconnects by itself
	cons := subscribe(t, c, pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "s", SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest,
	})
	var got []string
	for i := 0; i < 10; i++ {
		m, err := cons.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Payload()))
	}
	if got[0] != "before-0" || got[9] != "after-4" {
		t.Fatalf("got %v", got)
	}
}

func TestDropConnectionsClientsReconnect(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/drop"
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxPublishDelay: time.Millisecond})
	sendAsync(t, p, "a", 3, 1)
	b.DropConnections()
	sendAsync(t, p, "b", 3, 1)
	seen := map[string]bool{}
	for len(seen) < 6 {
		m, err := cons.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		seen[string(m.Payload())] = true
		_ = cons.Ack(m)
	}
}

func TestWithheldReceiptsTimeOutButMessagesAreStored(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/withhold"
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true, SendTimeout: 300 * time.Millisecond})
	b.WithholdReceipts(true)
	_, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("x")})
	if !errors.Is(err, pulsar.ErrSendTimeout) {
		t.Fatalf("send with withheld receipt: %v, want ErrSendTimeout", err)
	}
	if st, _ := b.Stats(topic); st.Published != 1 {
		t.Fatalf("published %d, want the message stored", st.Published)
	}
	b.WithholdReceipts(false)
	if _, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
}

func TestDelayedReceipts(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/delay"
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	b.SetReceiptDelay(200 * time.Millisecond)
	start := time.Now()
	if _, err := p.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the receipt cannot come before the delay.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("receipt after %v, before the 200ms delay", d)
	}
}

func TestRejectedSendsAreRetriedByTheClient(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/reject"
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	b.RejectSends(true)
	done := make(chan error, 1)
	p.SendAsync(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("x")}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
		done <- err
	})
	waitFor(t, func() bool { st, _ := b.Stats(topic); return st.Producers == 0 }) // rejected: the client reconnects
	if st, _ := b.Stats(topic); st.Published != 0 {
		t.Fatalf("published %d while rejecting", st.Published)
	}
	b.RejectSends(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Stats(topic); st.Published != 1 {
		t.Fatalf("published %d, want 1", st.Published)
	}
}

func TestUnloadMakesClientsReconnect(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/unload"
	cons := subscribe(t, c, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, BatchingMaxPublishDelay: time.Millisecond})
	sendAsync(t, p, "a", 2, 1)
	if !b.Unload(topic) {
		t.Fatal("unload: no such topic")
	}
	if b.Unload("persistent://public/default/none") {
		t.Fatal("unload of a missing topic reported true")
	}
	sendAsync(t, p, "b", 2, 1)
	// Messages whose acks were still grouped in the client when the
	// consumer was closed come again: at least once.
	seen := map[string]bool{}
	for len(seen) < 4 {
		m, err := cons.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		seen[string(m.Payload())] = true
		_ = cons.Ack(m)
	}
	waitFor(t, func() bool {
		st, _ := b.Stats(topic)
		return st.Producers == 1 && st.Subscriptions["s"].Consumers == 1 && st.Subscriptions["s"].Backlog == 0
	})
}

func TestDataDirSurvivesANewBroker(t *testing.T) {
	dir := t.TempDir()
	const topic = "persistent://public/default/durable"
	b1, err := pulsartest.New(pulsartest.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c1 := newClient(t, b1)
	cons := subscribe(t, c1, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", AckWithResponse: true})
	p := produce(t, c1, pulsar.ProducerOptions{Topic: topic, Name: "gw", DisableBatching: true})
	sendAsync(t, p, "m", 4, 1)
	m, err := cons.Receive(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Ack(m); err != nil {
		t.Fatal(err)
	}
	p.Close()
	cons.Close()
	c1.Close()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, pulsartest.Config{DataDir: dir})
	st, ok := b2.Stats(topic)
	if !ok || st.Published != 4 || st.Subscriptions["s"].Backlog != 3 {
		t.Fatalf("after reopen: %+v", st)
	}
	c2 := newClient(t, b2)
	p2 := produce(t, c2, pulsar.ProducerOptions{Topic: topic, Name: "gw", DisableBatching: true})
	id, err := p2.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("m-4")})
	if err != nil {
		t.Fatal(err)
	}
	if id.EntryID() != 4 || p2.LastSequenceID() != 4 {
		t.Fatalf("after reopen: entry %d seq %d, want 4 and 4", id.EntryID(), p2.LastSequenceID())
	}
	cons2 := subscribe(t, c2, pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s"})
	for i := 1; i <= 4; i++ {
		m, err := cons2.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := "m-" + string(rune('0'+i)); string(m.Payload()) != want {
			t.Fatalf("got %q want %s", m.Payload(), want)
		}
	}
}

func TestDataDirTornLogTailIsCutAndTornCursorsAreReported(t *testing.T) {
	dir := t.TempDir()
	const topic = "persistent://public/default/torn"
	b1, err := pulsartest.New(pulsartest.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, b1)
	p := produce(t, c, pulsar.ProducerOptions{Topic: topic, Name: "gw", DisableBatching: true})
	sendAsync(t, p, "m", 3, 1)
	p.Close()
	c.Close()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "*", "log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("logs %v (%v)", logs, err)
	}
	// A write cut short by a crash: a record header and part of its body.
	f, err := os.OpenFile(logs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 0, 64, 1, 2, 3, 4, 't', 'o', 'r', 'n'}); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	b2, err := pulsartest.New(pulsartest.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := b2.Stats(topic)
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Published != 3 {
		t.Fatalf("after a torn tail: %d messages, want 3", st.Published)
	}

	cursors := filepath.Join(filepath.Dir(logs[0]), "cursors.json")
	if err := os.WriteFile(cursors, []byte(`{"subscriptions":[{"na`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pulsartest.New(pulsartest.Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), cursors) || !strings.Contains(err.Error(), topic) {
		t.Fatalf("torn subscriptions file: %v, want an error naming %s and the topic", err, cursors)
	}
}
