package failsafe

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	handovers     *prometheus.CounterVec
	writeFailures *prometheus.CounterVec
	alarm         *prometheus.GaugeVec
	state         *prometheus.GaugeVec
	latency       *prometheus.HistogramVec
	eventsDropped prometheus.Counter
	eventsFailed  prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_ai_monitor_handovers_total",
			Help: "Handovers completed (plan written and verified), by module and kind (fail_safe, hand_back)."}, []string{"module", "kind"}),
		writeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiln_ai_monitor_write_failures_total",
			Help: "Failed attempts to write a fail-safe or hand-back plan."}, []string{"module"}),
		alarm: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kiln_ai_monitor_alarm",
			Help: "1 while a module's fail-safe or hand-back write keeps failing."}, []string{"module"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kiln_ai_monitor_module_state",
			Help: "1 for the state each module is in."}, []string{"module", "state"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kiln_ai_monitor_failsafe_seconds",
			Help:    "From a module declared unhealthy to its fail-safe plan verified in the PLC.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"module"}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_ai_monitor_events_dropped_total",
			Help: "Status events dropped because the publisher fell behind."}),
		eventsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_ai_monitor_events_failed_total",
			Help: "Status events the transport did not take."}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.handovers, m.writeFailures, m.alarm, m.state, m.latency, m.eventsDropped, m.eventsFailed}
}

func (m *metrics) setState(module string, s State) {
	for _, st := range states {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(module, string(st)).Set(v)
	}
}

// Describe implements prometheus.Collector.
func (m *Monitor) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Monitor) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.metrics.collectors() {
		c.Collect(ch)
	}
}
