package pulsar

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

var (
	descPending   = prometheus.NewDesc("kiln_pulsar_publisher_pending", "Messages accepted and awaiting the broker's receipt.", []string{"topic"}, nil)
	descConfirmed = prometheus.NewDesc("kiln_pulsar_publisher_confirmed_total", "Messages confirmed by the broker.", []string{"topic"}, nil)
	descResent    = prometheus.NewDesc("kiln_pulsar_publisher_resent_total", "Messages sent again after the producer was recreated.", []string{"topic"}, nil)
	descHealthy   = prometheus.NewDesc("kiln_pulsar_publisher_healthy", "1 while the producer is connected and sending.", []string{"topic"}, nil)
	descBreaker   = prometheus.NewDesc("kiln_pulsar_publisher_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"topic"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descConfirmed, descResent, descHealthy, descBreaker} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	st := p.Status()
	t := p.cfg.Topic
	healthy := 0.0
	if st.Err == nil {
		healthy = 1
	}
	breaker := map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[p.cb.State()]
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending), t)
	ch <- prometheus.MustNewConstMetric(descConfirmed, prometheus.CounterValue, float64(st.Confirmed), t)
	ch <- prometheus.MustNewConstMetric(descResent, prometheus.CounterValue, float64(st.Resent), t)
	ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, healthy, t)
	ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, breaker, t)
}
