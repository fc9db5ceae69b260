package maintain

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kiln-iot/kiln/store"
)

// Metrics counts a store's maintenance runs and what they removed, for
// the store's prometheus.Collector.
type Metrics struct {
	runs        *prometheus.CounterVec
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
	removed     *prometheus.CounterVec
}

// NewMetrics returns the metrics of one store; backend (pgstore,
// sqlitestore) is a constant label.
func NewMetrics(backend string) *Metrics {
	l := prometheus.Labels{"backend": backend}
	return &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_store_maintenance_runs_total", ConstLabels: l,
			Help: "Maintenance runs (partitions ahead, retention), by result (ok, error)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kiln_store_maintenance_seconds", ConstLabels: l,
			Help: "Duration of maintenance runs.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kiln_store_maintenance_last_success_timestamp_seconds", ConstLabels: l,
			Help: "When the last maintenance run succeeded (Unix time, by the store's clock)."}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_store_retention_removed_total", ConstLabels: l,
			Help: "What retention removed: partitions (pgstore), samples (sqlitestore), batch_records."}, []string{"what"}),
	}
}

// Run records one maintenance run from start to end that ended with err;
// a run refused because the store is closed is not counted.
func (m *Metrics) Run(start, end time.Time, err error) {
	if errors.Is(err, store.ErrClosed) {
		return
	}
	m.duration.Observe(end.Sub(start).Seconds())
	if err != nil {
		m.runs.WithLabelValues("error").Inc()
		return
	}
	m.runs.WithLabelValues("ok").Inc()
	m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
}

// Removed adds n to what retention removed of what.
func (m *Metrics) Removed(what string, n int64) {
	m.removed.WithLabelValues(what).Add(float64(n))
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runs, m.duration, m.lastSuccess, m.removed}
}
