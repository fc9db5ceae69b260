package s7

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/plc/internal/metricset"
)

// metrics are one driver's Prometheus collectors, labelled with its
// device name.
type metrics struct {
	requests   *prometheus.CounterVec   // op, result
	bytes      *prometheus.CounterVec   // direction
	rtt        *prometheus.HistogramVec // op
	reconnects prometheus.Counter
	breaker    prometheus.Gauge
	itemErrors *prometheus.CounterVec // code
}

func newMetrics(device string) *metrics {
	cl := prometheus.Labels{"device": device}
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_s7_requests_total", Help: "S7 requests sent, by operation (read, write) and result (ok, error).", ConstLabels: cl,
		}, []string{"op", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_s7_bytes_total", Help: "S7 telegram bytes, by direction (sent, received).", ConstLabels: cl,
		}, []string{"direction"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kiln_s7_round_trip_seconds", Help: "S7 request round-trip time.", ConstLabels: cl,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"op"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kiln_s7_reconnects_total", Help: "Connections re-established after a loss.", ConstLabels: cl,
		}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kiln_s7_breaker_state", Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ConstLabels: cl,
		}),
		itemErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_s7_item_errors_total", Help: "Items the PLC refused, by return code.", ConstLabels: cl,
		}, []string{"code"}),
	}
}

// set is the driver's metrics as one collector, so registering them is
// all or nothing and Close removes them with one Unregister.
func (m *metrics) set() metricset.Set {
	return metricset.Set{m.requests, m.bytes, m.rtt, m.reconnects, m.breaker, m.itemErrors}
}

// register registers the driver's metrics with r.
func (m *metrics) register(r prometheus.Registerer) error {
	if err := r.Register(m.set()); err != nil {
		return fmt.Errorf("s7: register metrics: %w", err)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) { r.Unregister(m.set()) }

func (m *metrics) itemError(code ReturnCode) {
	m.itemErrors.WithLabelValues(fmt.Sprintf("0x%02x", byte(code))).Inc()
}

func (m *metrics) setBreaker(s gobreaker.State) { m.breaker.Set(breaker.Gauge(s)) }
