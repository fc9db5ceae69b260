package pulsar

import (
	"github.com/prometheus/client_golang/prometheus"
)

// link tells whether a client has a connection to a broker. The client
// exposes no connection state on its producers and consumers, but it
// counts its connections in Prometheus metrics; each Publisher and
// Subscriber gives its client a registry of its own (never the global
// one) and reads them there. A connection that failed to open is counted
// as closed too, so those failures are added back.
type link struct{ reg *prometheus.Registry }

func newLink() link { return link{reg: prometheus.NewRegistry()} }

// Metric names of pulsar-client-go v0.19.0 (internal/metrics.go).
const (
	metricOpened         = "pulsar_client_connections_opened"
	metricClosed         = "pulsar_client_connections_closed"
	metricConnectErrors  = "pulsar_client_connections_establishment_errors"
	metricHandshakeError = "pulsar_client_connections_handshake_errors"
)

// up reports whether the client holds at least one open connection.
func (l link) up() bool {
	mfs, err := l.reg.Gather()
	if err != nil {
		return false
	}
	var open float64
	for _, mf := range mfs {
		sign := 0.0
		switch mf.GetName() {
		case metricOpened, metricConnectErrors, metricHandshakeError:
			sign = 1
		case metricClosed:
			sign = -1
		}
		for _, m := range mf.GetMetric() {
			open += sign * m.GetCounter().GetValue()
		}
	}
	return open > 0
}
