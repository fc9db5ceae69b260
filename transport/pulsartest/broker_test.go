package pulsartest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The client's send-timeout goroutine outlives Close by up to
		// SendTimeout (pulsar-client-go v0.19.0).
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"))
}

func startBroker(t *testing.T, cfg pulsartest.Config) *pulsartest.Broker {
	t.Helper()
	b, err := pulsartest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func quietLogger() plog.Logger {
	l := logrus.New()
	l.SetLevel(logrus.ErrorLevel)
	return plog.NewLoggerWithLogrus(l)
}

func newClient(t *testing.T, b *pulsartest.Broker, opts ...func(*pulsar.ClientOptions)) pulsar.Client {
	t.Helper()
	o := pulsar.ClientOptions{
		URL:               b.URL(),
		OperationTimeout:  5 * time.Second,
		ConnectionTimeout: 2 * time.Second,
		Logger:            quietLogger(),
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := pulsar.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSyncRoundTrip(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	c := newClient(t, b)
	const topic = "persistent://public/default/roundtrip"
	cons, err := c.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", Type: pulsar.Exclusive})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	p, err := c.CreateProducer(pulsar.ProducerOptions{Topic: topic, DisableBatching: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t)
	var last pulsar.MessageID
	for i := 0; i < 10; i++ {
		id, err := p.Send(ctx, &pulsar.ProducerMessage{Payload: []byte(fmt.Sprint(i)), Key: "k", Properties: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if last != nil && id.EntryID() <= last.EntryID() {
			t.Fatalf("message id %v not after %v", id, last)
		}
		last = id
	}
	for i := 0; i < 10; i++ {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.Payload()); got != fmt.Sprint(i) || m.Properties()["i"] != got || m.Key() != "k" {
			t.Fatalf("message %d: payload %q props %v key %q", i, got, m.Properties(), m.Key())
		}
		if err := cons.Ack(m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		st, _ := b.Stats(topic)
		return st.Subscriptions["s"].Acked == 10
	})
	st, ok := b.Stats(topic)
	if !ok || st.Published != 10 || st.Subscriptions["s"].Backlog != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
