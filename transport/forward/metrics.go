package forward

import "github.com/prometheus/client_golang/prometheus"

var (
	descLagRecords = prometheus.NewDesc("kiln_forward_lag_records", "Spool records not yet confirmed by the destination.", nil, nil)
	descLagBytes   = prometheus.NewDesc("kiln_forward_lag_bytes", "Spool bytes not yet confirmed by the destination.", nil, nil)
	descLagAge     = prometheus.NewDesc("kiln_forward_lag_oldest_age_seconds", "Age of the oldest record not yet confirmed.", nil, nil)
	descBreaker    = prometheus.NewDesc("kiln_forward_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", nil, nil)
	descInFlight   = prometheus.NewDesc("kiln_forward_in_flight", "Messages published and not yet confirmed.", nil, nil)
	descPublished  = prometheus.NewDesc("kiln_forward_published_total", "Messages handed to the publisher, retries included.", nil, nil)
	descConfirmed  = prometheus.NewDesc("kiln_forward_confirmed_total", "Messages the publisher confirmed.", nil, nil)
	descFailed     = prometheus.NewDesc("kiln_forward_failed_total", "Message publications that failed or timed out.", nil, nil)
	descRetries    = prometheus.NewDesc("kiln_forward_retries_total", "Retry rounds after failures.", nil, nil)
	descSkipped    = prometheus.NewDesc("kiln_forward_skipped_total", "Spool records that held no message and were skipped.", nil, nil)
)

// Describe implements prometheus.Collector.
func (f *Forwarder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLagRecords, descLagBytes, descLagAge, descBreaker, descInFlight,
		descPublished, descConfirmed, descFailed, descRetries, descSkipped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (f *Forwarder) Collect(ch chan<- prometheus.Metric) {
	st := f.Status()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	c := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(descLagRecords, float64(st.Lag.Records))
	g(descLagBytes, float64(st.Lag.Bytes))
	g(descLagAge, st.Lag.OldestAge.Seconds())
	g(descBreaker, float64(f.brk.State()))
	g(descInFlight, float64(st.InFlight))
	c(descPublished, st.Published)
	c(descConfirmed, st.Confirmed)
	c(descFailed, st.Failed)
	c(descRetries, st.Retries)
	c(descSkipped, st.Skipped)
}
