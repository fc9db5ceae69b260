package ingest

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Ingestor's collectors; Ingestor implements
// prometheus.Collector over them.
type metrics struct {
	rows, duplicates, expired, messages *prometheus.CounterVec
	deadLetters                         *prometheus.CounterVec
	nacks, writeErrors, quotaWaits      *prometheus.CounterVec
	batchSeconds                        *prometheus.HistogramVec
	batchSamples                        prometheus.Histogram
	lag, pending                        *prometheus.GaugeVec
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return &metrics{
		rows:        counter("kiln_ingest_rows_total", "Sample rows inserted into the store (rows/s: rate of this).", "tenant"),
		duplicates:  counter("kiln_ingest_duplicate_samples_total", "Samples skipped because they were already stored (redeliveries, repeats).", "tenant"),
		expired:     counter("kiln_ingest_expired_samples_total", "Samples skipped because they are older than the store's retention.", "tenant"),
		messages:    counter("kiln_ingest_messages_total", "Messages written and acknowledged.", "tenant"),
		deadLetters: counter("kiln_ingest_dead_letters_total", "Messages moved to the dead-letter topic, by reason (malformed, tenant_mismatch, rejected).", "tenant", "reason"),
		nacks:       counter("kiln_ingest_nacks_total", "Malformed messages nacked for another try before dead-lettering.", "tenant"),
		writeErrors: counter("kiln_ingest_write_errors_total", "Store writes that failed and were retried.", "tenant"),
		quotaWaits:  counter("kiln_ingest_quota_waits_total", "Writes delayed by a tenant's rate quota.", "tenant"),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kiln_ingest_batch_seconds",
			Help:    "Latency of a successful batch write (one store transaction).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"tenant"}),
		batchSamples: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kiln_ingest_batch_samples",
			Help:    "Samples per batch write.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kiln_ingest_lag_seconds",
			Help: "At the last commit, the time since the oldest message of the batch was produced (its event time).",
		}, []string{"tenant"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kiln_ingest_pending_messages",
			Help: "Messages received and held for the next batch write, not yet acknowledged.",
		}, []string{"tenant"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rows, m.duplicates, m.expired, m.messages, m.deadLetters, m.nacks,
		m.writeErrors, m.quotaWaits, m.batchSeconds, m.batchSamples, m.lag, m.pending}
}

// Describe implements prometheus.Collector.
func (in *Ingestor) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range in.m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (in *Ingestor) Collect(ch chan<- prometheus.Metric) {
	for _, c := range in.m.collectors() {
		c.Collect(ch)
	}
}
