package supervise

import "github.com/prometheus/client_golang/prometheus"

// Metrics holds the Prometheus counters of one or more supervisors,
// labelled by supervisor path and child name. Register it with a
// registry of your own and pass it with WithMetrics.
type Metrics struct {
	starts       *prometheus.CounterVec
	restarts     *prometheus.CounterVec
	exits        *prometheus.CounterVec
	escalations  *prometheus.CounterVec
	stopTimeouts *prometheus.CounterVec
	dropped      *prometheus.CounterVec
}

// NewMetrics makes the counters:
//
//	kiln_supervise_starts_total{supervisor,child}
//	kiln_supervise_restarts_total{supervisor,child}
//	kiln_supervise_exits_total{supervisor,child,reason}  reason: clean, error, panic, hung, liveness, start
//	kiln_supervise_escalations_total{supervisor}
//	kiln_supervise_stop_timeouts_total{supervisor,child}
//	kiln_supervise_events_dropped_total{supervisor}
func NewMetrics() *Metrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kiln", Subsystem: "supervise", Name: name, Help: help,
		}, labels)
	}
	return &Metrics{
		starts:       cv("starts_total", "Children started, first starts and restarts.", "supervisor", "child"),
		restarts:     cv("restarts_total", "Children restarted.", "supervisor", "child"),
		exits:        cv("exits_total", "Children that ended, by reason.", "supervisor", "child", "reason"),
		escalations:  cv("escalations_total", "Supervisors that exceeded their restart intensity.", "supervisor"),
		stopTimeouts: cv("stop_timeouts_total", "Children left behind after their shutdown timeout.", "supervisor", "child"),
		dropped:      cv("events_dropped_total", "Events dropped because the hook fell behind.", "supervisor"),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

func (m *Metrics) all() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{m.starts, m.restarts, m.exits, m.escalations, m.stopTimeouts, m.dropped}
}
