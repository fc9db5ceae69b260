package plc

import "github.com/prometheus/client_golang/prometheus"

var (
	descScans = prometheus.NewDesc("kiln_plc_poller_scans_total",
		"Scans completed, per scan group.", []string{"group"}, nil)
	descOverruns = prometheus.NewDesc("kiln_plc_poller_overruns_total",
		"Ticks skipped because the previous scan was still running, per scan group.", []string{"group"}, nil)
	descRead = prometheus.NewDesc("kiln_plc_poller_samples_read_total",
		"Tag values read, per scan group.", []string{"group"}, nil)
	descEmitted = prometheus.NewDesc("kiln_plc_poller_samples_emitted_total",
		"Samples reported to the sink (changes and full refreshes), per scan group.", []string{"group"}, nil)
	descSinkBlocked = prometheus.NewDesc("kiln_plc_poller_sink_blocked_seconds_total",
		"Time spent waiting for the sink, per scan group.", []string{"group"}, nil)
	descSinkSlow = prometheus.NewDesc("kiln_plc_poller_sink_slow_total",
		"Sink calls that took longer than the group's rate, per scan group.", []string{"group"}, nil)
	descReadErrors = prometheus.NewDesc("kiln_plc_poller_read_errors_total",
		"Reads that failed as a whole, per scan group.", []string{"group"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Poller) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descScans, descOverruns, descRead, descEmitted, descSinkBlocked, descSinkSlow, descReadErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the counters of Stats, labelled
// with the scan group.
func (p *Poller) Collect(ch chan<- prometheus.Metric) {
	for _, s := range p.Stats() {
		c := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, s.Group)
		}
		c(descScans, float64(s.Scans))
		c(descOverruns, float64(s.Overruns))
		c(descRead, float64(s.SamplesRead))
		c(descEmitted, float64(s.SamplesEmitted))
		c(descSinkBlocked, s.SinkBlocked.Seconds())
		c(descSinkSlow, float64(s.SinkSlow))
		c(descReadErrors, float64(s.ReadErrors))
	}
}
