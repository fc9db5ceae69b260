package pulsar_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
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
	t.Cleanup(func() { _ = b.Close() })
	return b
}

var fastRetry = backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

func client(b *pulsartest.Broker) kpulsar.ClientConfig {
	return kpulsar.ClientConfig{URL: b.URL(), Retry: fastRetry, OperationTimeout: 3 * time.Second}
}

func newPublisher(t *testing.T, cfg kpulsar.PublisherConfig) *kpulsar.Publisher {
	t.Helper()
	p, err := kpulsar.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newSubscriber(t *testing.T, cfg kpulsar.SubscriberConfig) *kpulsar.Subscriber {
	t.Helper()
	s, err := kpulsar.NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func msgs(prefix string, n int) []transport.Message {
	out := make([]transport.Message, n)
	for i := range out {
		out[i] = transport.Message{
			Key: fmt.Sprintf("k%d", i%3), Payload: []byte(fmt.Sprintf("%s-%d", prefix, i)),
			Properties: map[string]string{"i": fmt.Sprint(i)}, EventTime: time.UnixMilli(1_700_000_000_000 + int64(i)),
		}
	}
	return out
}

// publish publishes ms and waits for every completion, returning them.
func publish(t *testing.T, p transport.Publisher, ms []transport.Message) []error {
	t.Helper()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	wg.Add(len(ms))
	if err := p.Publish(ctxT(t), ms, func(i int, err error) { errs[i] = err; wg.Done() }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPublishAndReceiveRoundTrip(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	for _, tc := range []struct {
		name string
		cfg  kpulsar.PublisherConfig
	}{
		{"batched-lz4", kpulsar.PublisherConfig{}},
		{"batched-zstd", kpulsar.PublisherConfig{Compression: kpulsar.CompressionZSTD}},
		{"unbatched", kpulsar.PublisherConfig{DisableBatching: true, Compression: kpulsar.CompressionNone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "persistent://acme/line1/" + tc.name
			sub := newSubscriber(t, kpulsar.SubscriberConfig{Client: client(b), Topic: topic, Subscription: "ingest", Earliest: true})
			cfg := tc.cfg
			cfg.Client, cfg.Topic, cfg.ProducerName = client(b), topic, "gw-"+tc.name
			p := newPublisher(t, cfg)
			ms := msgs("m", 300)
			noErrors(t, publish(t, p, ms))
			if st, _ := b.Stats(topic); st.Published != 300 {
				t.Fatalf("broker has %d messages after all receipts, want 300", st.Published)
			}
			for i := range ms {
				d, err := sub.Receive(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				m := d.Message()
				if string(m.Payload) != string(ms[i].Payload) || m.Key != ms[i].Key || m.Properties["i"] != fmt.Sprint(i) || !m.EventTime.Equal(ms[i].EventTime) {
					t.Fatalf("message %d: got %+v", i, m)
				}
				if d.Redeliveries() != 0 {
					t.Fatalf("first delivery counted %d redeliveries", d.Redeliveries())
				}
				if err := d.Ack(); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Health(); err != nil {
				t.Fatalf("health: %v", err)
			}
			if st := p.Status(); st.Confirmed != 300 || st.Pending != 0 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestPublisherAndSubscriberCreatedWhileBrokerDown(t *testing.T) {
	addr := freeAddr(t)
	cc := kpulsar.ClientConfig{URL: "pulsar://" + addr, Retry: fastRetry, OperationTimeout: time.Second, ConnectionTimeout: time.Second}
	const topic = "persistent://acme/line1/late"
	p := newPublisher(t, kpulsar.PublisherConfig{Client: cc, Topic: topic, Breaker: breaker.Config{Failures: 1000}})
	sub := newSubscriber(t, kpulsar.SubscriberConfig{Client: cc, Topic: topic, Subscription: "s", Earliest: true})
	if err := p.Health(); !errors.Is(err, kpulsar.ErrUnavailable) {
		t.Fatalf("publisher health with no broker: %v", err)
	}
	if err := sub.Health(); !errors.Is(err, kpulsar.ErrUnavailable) {
		t.Fatalf("subscriber health with no broker: %v", err)
	}
	errs := make(chan error, 10)
	if err := p.Publish(ctxT(t), msgs("early", 10), func(_ int, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few failed attempts
	startBroker(t, pulsartest.Config{Addr: addr})
	for i := 0; i < 10; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		d, err := sub.Receive(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Ack()
	}
	waitFor(t, "healthy", func() bool { return p.Health() == nil && sub.Health() == nil })
}

func TestTimedOutSendIsResentAndDeduplicated(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/timeout"
	p := newPublisher(t, kpulsar.PublisherConfig{
		Client: client(b), Topic: topic, ProducerName: "gw", DisableBatching: true, SendTimeout: 300 * time.Millisecond,
		Breaker: breaker.Config{Failures: 1000},
	})
	noErrors(t, publish(t, p, msgs("warm", 1)))
	b.WithholdReceipts(true) // stored, but the receipts are lost
	errs := make(chan error, 5)
	if err := p.Publish(ctxT(t), msgs("m", 5), func(_ int, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stored", func() bool { st, _ := b.Stats(topic); return st.Published == 6 })
	waitFor(t, "resent", func() bool { return p.Status().Resent >= 5 })
	if len(errs) != 0 {
		t.Fatalf("a timed-out send was reported: %v", <-errs)
	}
	b.WithholdReceipts(false)
	for i := 0; i < 5; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("a timed-out send was reported lost: %v", err)
		}
	}
	st, _ := b.Stats(topic)
	if st.Published != 6 || st.Deduplicated < 5 {
		t.Fatalf("published %d deduplicated %d: the re-sends were stored again", st.Published, st.Deduplicated)
	}
}

func TestBreakerOpensWhileBrokerIsGoneAndClosesAfter(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/breaker"
	p := newPublisher(t, kpulsar.PublisherConfig{
		Client: client(b), Topic: topic, SendTimeout: 200 * time.Millisecond,
		Breaker: breaker.Config{Failures: 2, OpenFor: 300 * time.Millisecond},
	})
	noErrors(t, publish(t, p, msgs("a", 1)))
	b.Stop()
	errs := make(chan error, 1)
	if err := p.Publish(ctxT(t), msgs("b", 1), func(_ int, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "breaker open", func() bool {
		err := p.Publish(ctxT(t), msgs("c", 1), func(int, error) {})
		return errors.Is(err, kpulsar.ErrUnavailable)
	})
	if err := p.Health(); !errors.Is(err, kpulsar.ErrUnavailable) {
		t.Fatalf("health with breaker open: %v", err)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("message accepted before the outage: %v", err)
	}
	waitFor(t, "healthy", func() bool { return p.Health() == nil })
	noErrors(t, publish(t, p, msgs("d", 3)))
	if st := p.Status(); st.Breaker != "closed" {
		t.Fatalf("breaker %s after successful sends", st.Breaker)
	}
}

func TestCloseFailsWhatCannotBeConfirmed(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	p, err := kpulsar.NewPublisher(kpulsar.PublisherConfig{
		Client: client(b), Topic: "persistent://acme/line1/close", CloseTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	noErrors(t, publish(t, p, msgs("a", 1)))
	b.WithholdReceipts(true)
	errs := make(chan error, 3)
	if err := p.Publish(ctxT(t), msgs("b", 3), func(_ int, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("unconfirmed message completed with %v, want ErrClosed", err)
		}
	}
	if err := p.Publish(ctxT(t), msgs("c", 1), func(int, error) {}); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{kpulsar.PublisherConfig{Topic: "t"}.Validate(), "client.url"},
		{kpulsar.PublisherConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x"}}.Validate(), "topic"},
		{kpulsar.PublisherConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x"}, Topic: "t", Compression: "gzip"}.Validate(), "compression"},
		{kpulsar.SubscriberConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x"}, Topic: "t"}.Validate(), "subscription"},
		{kpulsar.SubscriberConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x"}, Topic: "t", Subscription: "s", Type: "fanout"}.Validate(), "type"},
		{kpulsar.SubscriberConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x", KeepAlive: -1}, Topic: "t", Subscription: "s"}.Validate(), "client.keep_alive"},
	} {
		var fe *config.FieldError
		if !errors.As(tc.err, &fe) || fe.Path != tc.want {
			t.Errorf("Validate() = %v, want a *config.FieldError for %s", tc.err, tc.want)
		}
	}
}

func TestConfigValidateReportsOneFieldPerProblem(t *testing.T) {
	err := kpulsar.PublisherConfig{
		Client: kpulsar.ClientConfig{Retry: backoff.Config{Multiplier: 0.5}},
		Topic:  "t", BatchMaxMessages: -1, MaxPending: -1, SendTimeout: -1,
		Breaker: breaker.Config{OpenFor: -1},
	}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	want := []string{"client.url", "client.retry.multiplier", "batch_max_messages", "max_pending", "send_timeout", "breaker.open_for"}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
	err = kpulsar.SubscriberConfig{Client: kpulsar.ClientConfig{URL: "pulsar://x"}, Topic: "t", Subscription: "s", Concurrency: -1, NackDelay: -1}.Validate()
	if got := len(config.List(err)); got != 2 {
		t.Errorf("%d problems, want 2: %v", got, err)
	}
}

func TestPublisherMetrics(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: "persistent://acme/line1/metrics"})
	noErrors(t, publish(t, p, msgs("m", 7)))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	if got := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		for m := range collectOne(p, "kiln_pulsar_publisher_confirmed_total") {
			ch <- m
		}
	})); got != 7 {
		t.Fatalf("confirmed_total %v, want 7", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 5 {
		t.Fatalf("gathered %d series (%v), want 5", n, err)
	}
}

// collectOne returns the metrics of c whose name is name.
func collectOne(c prometheus.Collector, name string) <-chan prometheus.Metric {
	all := make(chan prometheus.Metric, 16)
	c.Collect(all)
	close(all)
	out := make(chan prometheus.Metric, 16)
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+name+`"`) {
			out <- m
		}
	}
	close(out)
	return out
}

func TestSequenceIDsContinueAfterTheBrokersLast(t *testing.T) {
	b := startBroker(t, pulsartest.Config{})
	const topic = "persistent://acme/line1/seq"
	// An earlier run under the same producer name left a sequence id far
	// above anything this process's clock would suggest.
	c, err := pulsar.NewClient(pulsar.ClientOptions{URL: b.URL(), Logger: plog.DefaultNopLogger(), MetricsRegisterer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.CreateProducer(pulsar.ProducerOptions{Topic: topic, Name: "gw", DisableBatching: true})
	if err != nil {
		t.Fatal(err)
	}
	high := int64(1) << 60
	if _, err := old.Send(ctxT(t), &pulsar.ProducerMessage{Payload: []byte("old"), SequenceID: &high}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	c.Close()

	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic, ProducerName: "gw"})
	noErrors(t, publish(t, p, msgs("new", 50)))
	st, _ := b.Stats(topic)
	if st.Published != 51 || st.Deduplicated != 0 {
		t.Fatalf("published %d, deduplicated %d: new messages were taken for duplicates", st.Published, st.Deduplicated)
	}
}

func TestMessageTooBigFailsAloneAndTheRestGoOut(t *testing.T) {
	b := startBroker(t, pulsartest.Config{MaxMessageSize: 4 << 10})
	const topic = "persistent://acme/line1/big"
	p := newPublisher(t, kpulsar.PublisherConfig{Client: client(b), Topic: topic})
	// The very first message of a Publisher also learns the broker's last
	// sequence id; refusing it must not stall the ones after it.
	big := []transport.Message{{Payload: make([]byte, 8<<10)}}
	errs := publish(t, p, big)
	var pe *pulsar.Error
	if !errors.As(errs[0], &pe) || pe.Result() != pulsar.MessageTooBig {
		t.Fatalf("oversized message: %v, want MessageTooBig", errs[0])
	}
	noErrors(t, publish(t, p, msgs("small", 3)))
	if errs := publish(t, p, append(msgs("mixed", 2), big...)); errs[0] != nil || errs[1] != nil || !errors.As(errs[2], &pe) {
		t.Fatalf("mixed publish: %v", errs)
	}
	if st, _ := b.Stats(topic); st.Published != 5 {
		t.Fatalf("topic holds %d messages, want 5", st.Published)
	}
	if err := p.Health(); err != nil {
		t.Fatalf("health after refusals: %v", err)
	}
}
