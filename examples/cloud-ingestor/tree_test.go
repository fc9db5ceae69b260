package main

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-iot/kiln/httpserve"
	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// orderStore records, in order, its writes and the end of its
// maintenance.
type orderStore struct {
	servingStore
	mu     sync.Mutex
	events []string
}

func (s *orderStore) note(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *orderStore) WriteBatches(ctx context.Context, ten string, batches []store.Batch) (store.WriteResult, error) {
	r, err := s.servingStore.WriteBatches(ctx, ten, batches)
	s.note("write")
	return r, err
}

func (s *orderStore) Serve(ctx context.Context) error {
	err := s.servingStore.Serve(ctx)
	s.note("maintenance stopped")
	return err
}

// treeRig is the service's tree over the embedded transport and store.
type treeRig struct {
	st   *orderStore
	in   *ingest.Ingestor
	tree *supervise.Supervisor
	sp   *spool.Spool
	reg  *prometheus.Registry
}

func newTreeRig(t *testing.T, cfg Config) *treeRig {
	t.Helper()
	dir := t.TempDir()
	reg, err := tenant.Parse("tenants.yaml", []byte("tenants:\n  - {id: acme, namespaces: [plant-1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sq, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(dir, "kiln.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() })
	sp, err := spool.Open(spool.Config{Dir: filepath.Join(dir, "samples")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	r := &treeRig{st: &orderStore{servingStore: sq}, sp: sp, reg: prometheus.NewRegistry()}
	r.in, err = ingest.New(cfg.Ingest, reg, r.st,
		func(context.Context, string) (transport.Subscriber, error) { return spool.NewSubscriber(sp) },
		func(context.Context, string) (transport.Publisher, error) { return spool.NewPublisher(sp), nil })
	if err != nil {
		t.Fatal(err)
	}
	r.reg.MustRegister(r.in)
	hcfg := httpserve.Config{Listen: "127.0.0.1:0"}
	srv, err := httpserve.Listen(hcfg, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if r.tree, err = supervise.New(supervise.Config{Name: "cloud-ingestor"}); err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs(cfg, r.st, r.in, srv) {
		if err := r.tree.Add(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *treeRig) publish(t *testing.T) {
	t.Helper()
	msg := wire.ToMessage(&wire.Batch{Source: "gw-1", Tenant: "acme", Seq: 1, Samples: []plc.Sample{
		{Tag: "Line1.Temp", Value: plc.FloatValue(plc.Real, 851.5), Quality: plc.Good, Time: t0},
	}}, nil)
	pub := spool.NewPublisher(r.sp)
	defer pub.Close()
	errc := make(chan error, 1)
	if err := pub.Publish(context.Background(), []transport.Message{msg}, func(_ int, err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestTreeDrainsTheIngestorBeforeStoreMaintenanceStops(t *testing.T) {
	var cfg Config
	cfg.Ingest.MaxBatchDelay = time.Hour // written only by the drain
	r := newTreeRig(t, cfg)
	r.publish(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.tree.Serve(ctx) }()
	waitFor(t, "the batch held", func() bool { return gauge(t, r.reg, "kiln_ingest_pending_messages") == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want nil after a clean stop", err)
	}
	r.st.mu.Lock()
	events := r.st.events
	r.st.mu.Unlock()
	if len(events) != 2 || events[0] != "write" || events[1] != "maintenance stopped" {
		t.Fatalf("events %q, want the drain's write before the maintenance stopped", events)
	}
	got, err := r.st.Range(context.Background(), "acme", "Line1.Temp", t0, t0.Add(time.Second), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("%d rows (%v), want the drained sample", len(got), err)
	}
}

// A component that keeps failing ends the service with the error, instead
// of being logged and forgotten: here the store's maintenance, on a store
// that is closed.
func TestTreeReturnsTheErrorOfAFailingChild(t *testing.T) {
	r := newTreeRig(t, Config{})
	_ = r.st.servingStore.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // bounds a wrong answer
	defer cancel()
	err := r.tree.Serve(ctx)
	var esc *supervise.EscalationError
	if !errors.As(err, &esc) || esc.Child != "store-maintenance" || !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Serve = %v, want the escalation of store-maintenance with store.ErrClosed", err)
	}
}

// gauge sums the samples of a gauge family.
func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
