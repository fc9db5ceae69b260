package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m),
		// The client's send-timeout goroutine outlives Close by up to
		// SendTimeout (pulsar-client-go v0.19.0).
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"))
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

const registryYAML = `tenants:
  - id: acme
    namespaces: [plant-1, plant-2]
  - id: globex
    namespaces: [main]
    quotas: {tags: 5}
`

// spools is the embedded transport: one spool directory per topic.
type spools struct {
	t   *testing.T
	dir string

	mu sync.Mutex
	m  map[string]*spool.Spool
}

func newSpools(t *testing.T) *spools {
	t.Helper()
	s := &spools{t: t, dir: t.TempDir(), m: map[string]*spool.Spool{}}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, sp := range s.m {
			_ = sp.Close()
		}
	})
	return s
}

func (s *spools) get(topic string) (*spool.Spool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.m[topic]; ok {
		return sp, nil
	}
	dir := filepath.Join(s.dir, strings.NewReplacer("://", "_", "/", "_").Replace(topic))
	sp, err := spool.Open(spool.Config{Dir: dir})
	if err != nil {
		return nil, err
	}
	s.m[topic] = sp
	return sp, nil
}

func (s *spools) subscriber(_ context.Context, topic string) (transport.Subscriber, error) {
	sp, err := s.get(topic)
	if err != nil {
		return nil, err
	}
	return spool.NewSubscriber(sp)
}

func (s *spools) publisher(_ context.Context, topic string) (transport.Publisher, error) {
	sp, err := s.get(topic)
	if err != nil {
		return nil, err
	}
	return spool.NewPublisher(sp), nil
}

// publish appends msgs to topic.
func (s *spools) publish(topic string, msgs ...transport.Message) {
	s.t.Helper()
	p, err := s.publisher(context.Background(), topic)
	if err != nil {
		s.t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(context.Background(), msgs, func(i int, err error) {
		if err != nil {
			s.t.Errorf("publish %d: %v", i, err)
		}
	}); err != nil {
		s.t.Fatal(err)
	}
}

// drain returns every message left unacknowledged on topic.
func (s *spools) drain(topic string) []transport.Message {
	s.t.Helper()
	sub, err := s.subscriber(context.Background(), topic)
	if err != nil {
		s.t.Fatal(err)
	}
	defer sub.Close()
	var out []transport.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		d, err := sub.Receive(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, d.Message())
		_ = d.Ack()
	}
}

// batchMsg encodes n samples of tenant: tags prefix+"0".., times from
// first on, one millisecond apart.
func batchMsg(ten, prefix string, seq uint64, first, n int) transport.Message {
	b := &wire.Batch{Source: "gw-" + ten + "-" + prefix, Tenant: ten, Seq: seq}
	for i := first; i < first+n; i++ {
		b.Samples = append(b.Samples, plc.Sample{
			Tag:     fmt.Sprintf("%s%d", prefix, i%3),
			Value:   plc.IntValue(plc.LInt, int64(i)),
			Quality: plc.Good,
			Time:    t0.Add(time.Duration(i) * time.Millisecond),
		})
	}
	return wire.ToMessage(b, nil)
}

type rig struct {
	t   *testing.T
	sp  *spools
	st  store.Store
	reg *tenant.Registry
	in  *Ingestor

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, cfg Config, opts ...Option) *rig {
	t.Helper()
	reg, err := tenant.Parse("tenants.yaml", []byte(registryYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "kiln.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{t: t, sp: newSpools(t), st: st, reg: reg}
	r.in = r.ingestor(cfg, st, opts...)
	return r
}

func (r *rig) ingestor(cfg Config, st store.Store, opts ...Option) *Ingestor {
	r.t.Helper()
	if cfg.Retry == (backoff.Config{}) {
		cfg.Retry = backoff.Config{Initial: time.Millisecond, Max: 10 * time.Millisecond}
	}
	in, err := New(cfg, r.reg, st, r.sp.subscriber, r.sp.publisher, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	return in
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.in.Serve(ctx) }()
	r.t.Cleanup(r.stop)
}

// stop cancels Serve and waits for it (idempotent).
func (r *rig) stop() {
	r.t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.t.Errorf("Serve: %v", err)
	}
}

// rows counts the stored samples of ten's tags with the given prefix.
func (r *rig) rows(ten, prefix string) int {
	r.t.Helper()
	n := 0
	for i := 0; i < 3; i++ {
		got, err := r.st.Range(context.Background(), ten, fmt.Sprintf("%s%d", prefix, i), t0.Add(-time.Hour), t0.Add(time.Hour), store.MaxRangeLimit)
		if err != nil {
			r.t.Fatal(err)
		}
		n += len(got)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const (
	acme1  = "persistent://acme/plant-1/samples"
	acme2  = "persistent://acme/plant-2/samples"
	globex = "persistent://globex/main/samples"
)

func TestTopicsAreEveryTenantsNamespaces(t *testing.T) {
	r := newRig(t, Config{})
	got := strings.Join(r.in.Topics(), " ")
	if want := acme1 + " " + acme2 + " " + globex; got != want {
		t.Fatalf("Topics() = %s, want %s", got, want)
	}
}

// A gateway restarted with a fresh spool numbers its batches from the
// start again, in a new epoch: its new batches are written though their
// numbers were seen, and the old epoch's batches redelivered meanwhile
// are not written twice.
func TestGatewayRestartedWithAFreshSpoolLosesAndDuplicatesNothing(t *testing.T) {
	r := newRig(t, Config{MaxBatchSamples: 50, MaxBatchDelay: 5 * time.Millisecond})
	msg := func(epoch, seq uint64, first int) transport.Message {
		m := batchMsg("acme", "a1.", seq, first, 20)
		var b wire.Batch
		if err := wire.FromMessage(m, &b); err != nil {
			t.Fatal(err)
		}
		b.Epoch = epoch
		return wire.ToMessage(&b, nil)
	}
	// Before the restart: epoch 1, batches 1..3. After: epoch 2 starts
	// at 1 again with new samples, and two of epoch 1's come once more.
	r.sp.publish(acme1, msg(1, 1, 0), msg(1, 2, 20), msg(1, 3, 40),
		msg(2, 1, 60), msg(1, 2, 20), msg(2, 2, 80), msg(1, 3, 40), msg(2, 3, 100))
	r.start()
	waitFor(t, "all messages", func() bool { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 8 })
	r.stop()
	if n := r.rows("acme", "a1."); n != 120 {
		t.Fatalf("%d rows, want 120 (6 batches of 20)", n)
	}
	if got := testutil.ToFloat64(r.in.m.rows.WithLabelValues("acme")); got != 120 {
		t.Errorf("rows metric = %v, want 120", got)
	}
	if got := testutil.ToFloat64(r.in.m.duplicates.WithLabelValues("acme")); got != 40 {
		t.Errorf("duplicates metric = %v, want 40 (two redelivered batches)", got)
	}
}

func TestDuplicatesAndOverlapsLeaveOneRowEach(t *testing.T) {
	r := newRig(t, Config{MaxBatchSamples: 50, MaxBatchDelay: 5 * time.Millisecond})
	// acme plant-1: 0..99 twice over (a redelivered batch), and an
	// overlapping one; plant-2 and globex their own.
	r.sp.publish(acme1, batchMsg("acme", "a1.", 1, 0, 60), batchMsg("acme", "a1.", 2, 60, 40), batchMsg("acme", "a1.", 1, 0, 60), batchMsg("acme", "a1.", 3, 30, 50))
	r.sp.publish(acme2, batchMsg("acme", "a2.", 1, 0, 10))
	r.sp.publish(globex, batchMsg("globex", "g.", 1, 0, 70), batchMsg("globex", "g.", 1, 0, 70))
	r.start()
	waitFor(t, "all rows", func() bool {
		return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 5 &&
			testutil.ToFloat64(r.in.m.messages.WithLabelValues("globex")) == 2
	})
	r.stop()
	for _, c := range []struct {
		ten, prefix string
		want        int
	}{{"acme", "a1.", 100}, {"acme", "a2.", 10}, {"globex", "g.", 70}, {"globex", "a1.", 0}, {"acme", "g.", 0}} {
		if got := r.rows(c.ten, c.prefix); got != c.want {
			t.Errorf("tenant %s, tags %s*: %d rows, want %d", c.ten, c.prefix, got, c.want)
		}
	}
	if got := testutil.ToFloat64(r.in.m.rows.WithLabelValues("acme")); got != 110 {
		t.Errorf("rows metric acme = %v, want 110", got)
	}
	if got := testutil.ToFloat64(r.in.m.duplicates.WithLabelValues("acme")); got != 60+50 {
		t.Errorf("duplicates metric acme = %v, want 110", got)
	}
	for _, topic := range []string{acme1, acme2, globex} {
		if left := r.sp.drain(topic); len(left) != 0 {
			t.Errorf("%s: %d messages left unacknowledged", topic, len(left))
		}
	}
}

func TestTenantMismatchIsDeadLetteredNeverWritten(t *testing.T) {
	r := newRig(t, Config{MaxBatchDelay: time.Millisecond})
	// globex's batch on acme's topic, then acme's own.
	r.sp.publish(acme1, batchMsg("globex", "g.", 7, 0, 10), batchMsg("", "x.", 8, 0, 5), batchMsg("acme", "a.", 1, 0, 10))
	r.start()
	waitFor(t, "acme's batch", func() bool { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 1 })
	r.stop()
	if got := testutil.ToFloat64(r.in.m.deadLetters.WithLabelValues("acme", ReasonTenantMismatch)); got != 2 {
		t.Errorf("dead letters (tenant_mismatch) = %v, want 2", got)
	}
	if n := r.rows("globex", "g.") + r.rows("acme", "g.") + r.rows("acme", "x."); n != 0 {
		t.Errorf("%d rows of the mismatched batches were written", n)
	}
	if n := r.rows("acme", "a."); n != 10 {
		t.Errorf("acme's own batch: %d rows, want 10", n)
	}
	dead := r.sp.drain("persistent://acme/plant-1/samples-dlq")
	if len(dead) != 2 {
		t.Fatalf("dead-letter topic holds %d messages, want 2", len(dead))
	}
	m := dead[0]
	if m.Properties[PropReason] != ReasonTenantMismatch || m.Properties[PropOriginTopic] != acme1 ||
		m.Properties[PropDeliveries] != "1" || !strings.Contains(m.Properties[PropError], `"globex"`) {
		t.Errorf("dead letter properties: %v", m.Properties)
	}
	var b wire.Batch
	if err := wire.FromMessage(m, &b); err != nil || b.Tenant != "globex" || b.Seq != 7 {
		t.Errorf("dead letter does not hold the original batch: %+v, %v", b, err)
	}
	if left := r.sp.drain(acme1); len(left) != 0 {
		t.Errorf("%d messages left unacknowledged", len(left))
	}
}

func TestMalformedAreDeadLetteredAfterMaxDeliveriesWithoutBlocking(t *testing.T) {
	r := newRig(t, Config{MaxBatchDelay: time.Millisecond, MaxDeliveries: 3})
	bad := []transport.Message{
		{Payload: []byte("not protobuf"), Properties: map[string]string{wire.PropContentType: wire.ContentType}},
		{Payload: batchMsg("acme", "a.", 1, 0, 3).Payload, Properties: map[string]string{wire.PropContentType: "text/plain"}},
		batchMsg("acme", "", 2, 0, 3), // tags "0", "1", "2" are fine; make one empty below
	}
	var b wire.Batch
	if err := wire.FromMessage(bad[2], &b); err != nil {
		t.Fatal(err)
	}
	b.Samples[1].Tag = ""
	bad[2] = wire.ToMessage(&b, nil)
	r.sp.publish(acme1, bad[0], batchMsg("acme", "a.", 3, 0, 10), bad[1], bad[2], batchMsg("acme", "a.", 4, 10, 10))
	r.start()
	waitFor(t, "dead letters", func() bool {
		return testutil.ToFloat64(r.in.m.deadLetters.WithLabelValues("acme", ReasonMalformed)) == 3 &&
			testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 2
	})
	r.stop()
	if n := r.rows("acme", "a."); n != 20 {
		t.Errorf("good batches around the bad ones: %d rows, want 20", n)
	}
	if got := testutil.ToFloat64(r.in.m.nacks.WithLabelValues("acme")); got != 6 {
		t.Errorf("nacks = %v, want 6 (two per malformed message)", got)
	}
	dead := r.sp.drain("persistent://acme/plant-1/samples-dlq")
	if len(dead) != 3 {
		t.Fatalf("dead-letter topic holds %d, want 3", len(dead))
	}
	for i, m := range dead {
		if m.Properties[PropReason] != ReasonMalformed || m.Properties[PropDeliveries] != "3" {
			t.Errorf("dead letter %d: %v", i, m.Properties)
		}
	}
	if !strings.Contains(dead[2].Properties[PropError], "Tag") {
		t.Errorf("invalid sample's dead letter does not say what is wrong: %q", dead[2].Properties[PropError])
	}
	if left := r.sp.drain(acme1); len(left) != 0 {
		t.Errorf("%d messages left unacknowledged", len(left))
	}
}

func TestRefusedMessageIsDeadLetteredTheRestOfItsBatchWritten(t *testing.T) {
	// globex may have 5 tags: the first message has 3, the second 3 more.
	r := newRig(t, Config{MaxBatchSamples: 1000, MaxBatchDelay: time.Hour})
	r.sp.publish(globex, batchMsg("globex", "g.", 1, 0, 30), batchMsg("globex", "h.", 2, 0, 30))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.in.Serve(ctx) }()
	waitFor(t, "both held", func() bool { return testutil.ToFloat64(r.in.m.pending.WithLabelValues("globex")) == 2 })
	cancel() // the drain writes the batch
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.rows("globex", "g."); n != 30 {
		t.Errorf("first message: %d rows, want 30", n)
	}
	if n := r.rows("globex", "h."); n != 0 {
		t.Errorf("refused message: %d rows written", n)
	}
	dead := r.sp.drain("persistent://globex/main/samples-dlq")
	if len(dead) != 1 || dead[0].Properties[PropReason] != ReasonRejected || !strings.Contains(dead[0].Properties[PropError], "tags") {
		t.Fatalf("dead letters: %v", dead)
	}
	if left := r.sp.drain(globex); len(left) != 0 {
		t.Errorf("%d messages left unacknowledged", len(left))
	}
	if got := testutil.ToFloat64(r.in.m.pending.WithLabelValues("globex")); got != 0 {
		t.Errorf("pending = %v after the drain", got)
	}
}

func TestBatchesBySizeAndByTime(t *testing.T) {
	clk := clock.NewFake(t0)
	r := newRig(t, Config{MaxBatchSamples: 10, MaxBatchDelay: time.Second}, WithClock(clk))
	r.start()
	written := func() float64 { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) }

	// 4 samples: held until the delay has passed.
	r.sp.publish(acme1, batchMsg("acme", "a.", 1, 0, 4))
	waitFor(t, "first message held", func() bool { return testutil.ToFloat64(r.in.m.pending.WithLabelValues("acme")) == 1 })
	clk.BlockUntil(1)
	clk.Advance(999 * time.Millisecond)
	if written() != 0 {
		t.Fatal("written before MaxBatchDelay")
	}
	clk.Advance(time.Millisecond)
	waitFor(t, "flush by time", func() bool { return written() == 1 })

	// 3 × 4 samples: the third makes 12 ≥ 10 and flushes without time passing.
	r.sp.publish(acme1, batchMsg("acme", "a.", 2, 4, 4), batchMsg("acme", "a.", 3, 8, 4), batchMsg("acme", "a.", 4, 12, 4))
	waitFor(t, "flush by size", func() bool { return written() == 4 })
	if n := r.rows("acme", "a."); n != 16 {
		t.Errorf("%d rows, want 16", n)
	}
	if got := testutil.CollectAndCount(r.in.m.batchSamples); got != 1 {
		t.Fatalf("batch size histogram series %d", got)
	}
	r.stop()
}

// flaky fails the first n writes as a lost connection would.
type flaky struct {
	store.Store
	mu sync.Mutex
	n  int
}

var errConnLost = errors.New("conn lost")

func (f *flaky) WriteBatches(ctx context.Context, ten string, bs []store.Batch) (store.WriteResult, error) {
	f.mu.Lock()
	fail := f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return store.WriteResult{}, fmt.Errorf("write: %w", errConnLost)
	}
	return f.Store.WriteBatches(ctx, ten, bs)
}

func TestStoreFailuresAreRetriedAndNothingAckedBefore(t *testing.T) {
	r := newRig(t, Config{MaxBatchDelay: time.Millisecond})
	f := &flaky{Store: r.st, n: 5}
	clk := clock.NewFake(t0)
	r.in = r.ingestor(Config{MaxBatchDelay: time.Millisecond, Retry: backoff.Config{Initial: time.Second, Max: time.Second}}, f, WithClock(clk))
	if err := r.in.Health(); !errors.Is(err, ErrNotServing) {
		t.Fatalf("Health before Serve = %v", err)
	}
	r.sp.publish(acme2, batchMsg("acme", "a.", 1, 0, 10))
	r.start()
	// The first write waits for the batch timer, then each retry for the backoff.
	for i := 0; i <= 5; i++ {
		clk.BlockUntil(1)
		if i == 1 {
			if err := r.in.Health(); !errors.Is(err, errConnLost) || !strings.Contains(err.Error(), acme2) {
				t.Errorf("Health while writes fail = %v", err)
			}
		}
		clk.Advance(time.Second)
	}
	waitFor(t, "written", func() bool { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 1 })
	if err := r.in.Health(); err != nil {
		t.Errorf("Health after recovery = %v", err)
	}
	if got := testutil.ToFloat64(r.in.m.writeErrors.WithLabelValues("acme")); got != 5 {
		t.Errorf("write errors = %v, want 5", got)
	}
	if n := r.rows("acme", "a."); n != 10 {
		t.Errorf("%d rows, want 10", n)
	}
	r.stop()
	if err := r.in.Health(); !errors.Is(err, ErrNotServing) {
		t.Errorf("Health after Serve = %v", err)
	}
}

func TestDrainThatCannotWriteLeavesMessagesForRedelivery(t *testing.T) {
	r := newRig(t, Config{})
	f := &flaky{Store: r.st, n: 1 << 30}
	r.in = r.ingestor(Config{MaxBatchDelay: time.Hour, DrainTimeout: 50 * time.Millisecond}, f)
	r.sp.publish(acme1, batchMsg("acme", "a.", 1, 0, 10), batchMsg("acme", "a.", 2, 10, 10))
	r.start()
	waitFor(t, "held", func() bool { return testutil.ToFloat64(r.in.m.pending.WithLabelValues("acme")) == 2 })
	r.stop()
	if n := r.rows("acme", "a."); n != 0 {
		t.Fatalf("%d rows written by a failing store", n)
	}
	// A new ingestor on a working store gets them again.
	r.in = r.ingestor(Config{MaxBatchDelay: time.Millisecond}, r.st)
	r.start()
	waitFor(t, "redelivered and written", func() bool { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) == 2 })
	r.stop()
	if n := r.rows("acme", "a."); n != 20 {
		t.Fatalf("%d rows, want 20", n)
	}
}

func TestServeTwiceAndBadArguments(t *testing.T) {
	r := newRig(t, Config{})
	r.start()
	waitFor(t, "serving", func() bool { return !errors.Is(r.in.Health(), ErrNotServing) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // bounds a wrong answer
	defer cancel()
	if err := r.in.Serve(ctx); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v", err)
	}
	r.stop()
	if _, err := New(Config{}, nil, r.st, r.sp.subscriber, r.sp.publisher); err == nil {
		t.Error("nil registry accepted")
	}
	if _, err := New(Config{}, r.reg, r.st, nil, r.sp.publisher); err == nil {
		t.Error("nil subscriber factory accepted")
	}
}

func TestSubscribeFailureClosesWhatWasOpened(t *testing.T) {
	r := newRig(t, Config{})
	opened := 0
	var subs []transport.Subscriber
	sub := func(ctx context.Context, topic string) (transport.Subscriber, error) {
		if topic == globex {
			return nil, errors.New("no such topic")
		}
		opened++
		s, err := r.sp.subscriber(ctx, topic)
		subs = append(subs, s)
		return s, err
	}
	in, err := New(Config{}, r.reg, r.st, sub, r.sp.publisher)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), globex) {
		t.Fatalf("Serve = %v, want the failing topic named", err)
	}
	if opened != 2 {
		t.Fatalf("opened %d", opened)
	}
	for _, s := range subs {
		if _, err := s.Receive(context.Background()); !errors.Is(err, transport.ErrClosed) {
			t.Errorf("subscriber left open: %v", err)
		}
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{Topic: "a/b"}, "topic"},
		{Config{DeadLetterTopic: "x://y"}, "dead_letter_topic"},
		{Config{Topic: "s", DeadLetterTopic: "s"}, "dead_letter_topic"},
		{Config{MaxBatchSamples: -1}, "max_batch_samples"},
		{Config{MaxBatchDelay: -1}, "max_batch_delay"},
		{Config{MaxDeliveries: -1}, "max_deliveries"},
		{Config{DrainTimeout: -1}, "drain_timeout"},
		{Config{Retry: backoff.Config{Initial: -1}}, "retry.initial"},
		{Config{Retry: backoff.Config{Max: -1}}, "retry.max"},
		{Config{Retry: backoff.Config{Multiplier: 0.5}}, "retry.multiplier"},
	} {
		var fe *config.FieldError
		if err := c.cfg.Validate(); !errors.As(err, &fe) || fe.Path != c.field {
			t.Errorf("%+v: Validate() = %v, want a *config.FieldError at %s", c.cfg, err, c.field)
		}
	}
	if n := len(config.List(Config{MaxBatchSamples: -1, DrainTimeout: -1, Retry: backoff.Config{Jitter: 2}}.Validate())); n != 3 {
		t.Errorf("%d problems, want all 3", n)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}
