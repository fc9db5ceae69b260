package modbus

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
	rtt        *prometheus.HistogramVec // op
	exceptions *prometheus.CounterVec   // code
	reconnects prometheus.Collector
	breaker    prometheus.Gauge
	inFlight   prometheus.Gauge
}

func newMetrics(device string, reconnects func() float64) *metrics {
	cl := prometheus.Labels{"device": device}
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_modbus_requests_total", Help: "Modbus requests sent, by operation (read, write) and result (ok, exception, error).", ConstLabels: cl,
		}, []string{"op", "result"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kiln_modbus_round_trip_seconds", Help: "Modbus request round-trip time.", ConstLabels: cl,
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 15),
		}, []string{"op"}),
		exceptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kiln_modbus_exceptions_total", Help: "Exception answers, by exception code.", ConstLabels: cl,
		}, []string{"code"}),
		reconnects: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kiln_modbus_reconnects_total", Help: "Connections re-established after a loss.", ConstLabels: cl,
		}, reconnects),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kiln_modbus_breaker_state", Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ConstLabels: cl,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kiln_modbus_in_flight", Help: "Requests waiting for their answers.", ConstLabels: cl,
		}),
	}
}

// set is the driver's metrics as one collector, so registering them is
// all or nothing and Close removes them with one Unregister.
func (m *metrics) set() metricset.Set {
	return metricset.Set{m.requests, m.rtt, m.exceptions, m.reconnects, m.breaker, m.inFlight}
}

// register registers the driver's metrics with r.
func (m *metrics) register(r prometheus.Registerer) error {
	if err := r.Register(m.set()); err != nil {
		return fmt.Errorf("modbus: register metrics: %w", err)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) { r.Unregister(m.set()) }

func (m *metrics) setBreaker(s gobreaker.State) { m.breaker.Set(breaker.Gauge(s)) }
