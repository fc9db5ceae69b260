package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
)

// SparkplugWriter stores what a Sparkplug host application
// (transport/sparkplug/host) delivers: each delivery as its tenant, a
// DDATA that carries a kiln batch id as a batch with that identity (so a
// batch replayed after an outage adds nothing), anything else (births,
// deaths, the data of other edge nodes) sample by sample. Its Handle is
// the host's Handler.
type SparkplugWriter struct {
	reg *tenant.Registry
	st  store.Store
	log *zap.Logger

	mu     sync.Mutex
	scoped map[string]*tenant.Store

	rows, refused *prometheus.CounterVec
}

// NewSparkplugWriter writes into st as reg's tenants.
func NewSparkplugWriter(reg *tenant.Registry, st store.Store, log *zap.Logger) *SparkplugWriter {
	if log == nil {
		log = zap.NewNop()
	}
	return &SparkplugWriter{reg: reg, st: st, log: log, scoped: map[string]*tenant.Store{},
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_ingest_sparkplug_rows_total",
			Help: "Sample rows inserted from Sparkplug deliveries."}, []string{"tenant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_ingest_sparkplug_refused_total",
			Help: "Sparkplug deliveries refused for good, by reason (unknown_tenant, rejected)."}, []string{"tenant", "reason"}),
	}
}

// Describe implements prometheus.Collector.
func (w *SparkplugWriter) Describe(ch chan<- *prometheus.Desc) {
	w.rows.Describe(ch)
	w.refused.Describe(ch)
}

// Collect implements prometheus.Collector.
func (w *SparkplugWriter) Collect(ch chan<- prometheus.Metric) {
	w.rows.Collect(ch)
	w.refused.Collect(ch)
}

// Handle stores one delivery. A store failure is returned, and the host
// retries it; a delivery that can never be stored (a tenant the registry
// does not know, samples the store refuses) is logged, counted and
// dropped, so it does not hold the node's later messages back.
func (w *SparkplugWriter) Handle(ctx context.Context, d host.Delivery) error {
	ts, err := w.store(d.Tenant)
	if err != nil {
		w.refused.WithLabelValues(d.Tenant, "unknown_tenant").Inc()
		w.log.Error("sparkplug delivery of an unknown tenant dropped", zap.String("tenant", d.Tenant), zap.String("group", d.Group), zap.Error(err))
		return nil
	}
	var res store.WriteResult
	if d.Batch != nil {
		res, err = ts.WriteBatches(ctx, []store.Batch{{Source: d.Batch.Source, Epoch: d.Batch.Epoch, Seq: d.Batch.Seq, Samples: d.Samples}})
	} else {
		res, err = ts.Write(ctx, d.Samples)
	}
	var se *store.SampleError
	switch {
	case errors.As(err, &se):
		w.refused.WithLabelValues(d.Tenant, "rejected").Inc()
		w.log.Error("sparkplug delivery refused by the store", zap.String("tenant", d.Tenant), zap.String("node", d.Node), zap.Error(err))
		return nil
	case err != nil:
		return fmt.Errorf("ingest: sparkplug delivery of %s/%s: %w", d.Group, d.Node, err)
	}
	w.rows.WithLabelValues(d.Tenant).Add(float64(res.Inserted))
	return nil
}

func (w *SparkplugWriter) store(id string) (*tenant.Store, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.scoped[id]; ok {
		return s, nil
	}
	t, err := w.reg.Tenant(id)
	if err != nil {
		return nil, err
	}
	s := tenant.NewStore(t, w.st)
	w.scoped[id] = s
	return s, nil
}
