package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics is the gateway's own collector; the poller, spool, forwarder,
// drivers and supervisor register their own.
type metrics struct {
	g                                   *Gateway
	samples, messages, failures, writes *prometheus.Desc
	held, dropped                       *prometheus.Desc
	deviceUp, ready, commandSubscribed  *prometheus.Desc
}

func newMetrics(g *Gateway) *metrics {
	return &metrics{
		g:                 g,
		samples:           prometheus.NewDesc("kiln_gateway_samples_spooled_total", "Samples durably appended to the spool.", nil, nil),
		messages:          prometheus.NewDesc("kiln_gateway_messages_spooled_total", "Messages (batches and audit records) appended to the spool.", nil, nil),
		failures:          prometheus.NewDesc("kiln_gateway_spool_failures_total", "Appends the spool refused (disk full, read-only); their batches are held in memory and retried.", nil, nil),
		held:              prometheus.NewDesc("kiln_gateway_samples_held", "Samples held in memory while the spool refuses appends.", nil, nil),
		dropped:           prometheus.NewDesc("kiln_gateway_samples_dropped_total", "Samples dropped because the in-memory backlog overflowed while the spool refused appends.", nil, nil),
		writes:            prometheus.NewDesc("kiln_gateway_writes_total", "Write requests by result code.", []string{"code"}, nil),
		deviceUp:          prometheus.NewDesc("kiln_gateway_device_up", "1 while at least one of the device's tags reads good.", []string{"device", "driver"}, nil),
		ready:             prometheus.NewDesc("kiln_gateway_ready", "1 while /healthz reports ready.", nil, nil),
		commandSubscribed: prometheus.NewDesc("kiln_gateway_command_subscribed", "1 while the command topic is subscribed.", nil, nil),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.samples, m.messages, m.failures, m.writes, m.held, m.dropped, m.deviceUp, m.ready, m.commandSubscribed} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	g := m.g
	st := g.Stats()
	ch <- prometheus.MustNewConstMetric(m.samples, prometheus.CounterValue, float64(st.SamplesSpooled))
	ch <- prometheus.MustNewConstMetric(m.messages, prometheus.CounterValue, float64(st.MessagesSpooled))
	ch <- prometheus.MustNewConstMetric(m.failures, prometheus.CounterValue, float64(st.SpoolFailures))
	ch <- prometheus.MustNewConstMetric(m.held, prometheus.GaugeValue, float64(st.SamplesHeld))
	ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(st.SamplesDropped))
	for c, n := range st.Writes {
		ch <- prometheus.MustNewConstMetric(m.writes, prometheus.CounterValue, float64(n), c)
	}
	for _, d := range g.devices() {
		ch <- prometheus.MustNewConstMetric(m.deviceUp, prometheus.GaugeValue, b2f(d.Up), d.Name, d.Driver)
	}
	ready, _ := g.ready()
	ch <- prometheus.MustNewConstMetric(m.ready, prometheus.GaugeValue, b2f(ready))
	ch <- prometheus.MustNewConstMetric(m.commandSubscribed, prometheus.GaugeValue, b2f(g.commandsSubscribed()))
}
