// Command ai-monitor supervises a plant's AI function modules and hands
// control back to the PLC safely when one fails.
//
// Without flags it runs the demo: the simulated kiln line (examples/plcsim)
// and two demo AI modules, a healthy combustion optimizer and a flaky
// drying optimizer that crashes or hangs every 5 to 20 s. Watch the
// handovers on stdout, or at http://127.0.0.1:8090/api/status:
//
//	go run ./examples/ai-monitor
//	curl -s 127.0.0.1:8090/api/handovers
//	curl -s -X POST 127.0.0.1:8090/api/modules/drying/reset   # after it is declared failed
//	curl -s 127.0.0.1:8090/metrics | grep kiln_ai_monitor
//
// With a configuration (see package github.com/kiln-iot/kiln/failsafe and
// demo.yaml for the format) it watches real modules through the point database's PLCs:
//
//	ai-monitor -config /etc/kiln/ai-monitor.yaml
//
// The command only wires things up. The monitor itself (configuration,
// supervision, fail-safe handover, API, metrics, events) is the importable
// package failsafe, so a service of one's own, with other wiring, logging or
// an API mounted elsewhere, imports it rather than copying it. The demo
// module is failsafe/modulesim (run as "ai-monitor demo-module").
package main
