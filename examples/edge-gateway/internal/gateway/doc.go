// Package gateway composes the edge gateway from kiln's parts, under one
// supervisor tree: drivers → poller (and OPC UA subscriptions) → encoder →
// spool → forwarder → transport, the checked-write path fed by HTTP and the
// command topic, and the HTTP JSON API.
//
//	g, err := gateway.New(ctx, cfg, gateway.WithLogger(log))
//	if err != nil { … }
//	defer g.Close()
//	err = g.Serve(ctx) // until ctx is done: stops polling, flushes, returns
//
// With the Pulsar transport, sample batches go to the data topic and write
// audit records (which answer the command topic's requests) to the audit
// topic, both drained from the one spool in order.
//
// # A spool that refuses appends
//
// When the spool's disk is full or read-only, the encoder keeps the
// refused batches in a bounded in-memory backlog (WithBacklogBytes, 32 MiB
// by default) and polling goes on; a supervised child retries the backlog
// with backoff, in order, and new batches queue behind it. Meanwhile
// /healthz answers 503 naming the spool error, and /api/status and
// /metrics show the samples held (kiln_gateway_samples_held). Past the
// bound the oldest batches are dropped: every dropped sample is counted
// (kiln_gateway_samples_dropped_total) and each drop is logged. When space
// returns the backlog is written and the gateway is ready again.
//
// # Performance
//
// Measured with go run ./bench/gateway -tags 10000,50000,100000 (N DINT
// tags all changing every 100 ms; s7sim → gateway process → pulsartest →
// two cloud ingestors → PostgreSQL, all on 2 shared cores; see
// docs/BENCHMARKS.md):
//
//	| tags    | offered/s | stored/s | change→row p50 | p99    | gateway RSS | gateway CPU |
//	| 10,000  |   100,088 |  100,148 |          52 ms | 115 ms |      80 MiB |  0.05 cores |
//	| 50,000  |   498,459 |  170,337 |         9.37 s | 23.3 s |     207 MiB |  0.19 cores |
//	| 100,000 |   996,584 |   81,133 |        19.25 s | 34.6 s |     360 MiB |  0.37 cores |
//
// Beyond 10,000 tags the cloud half on the same machine is the limit and the
// surplus waits in the spool. RSS above 150 MiB at 100,000 tags comes from
// the per-tag state of package plc's poller and writer and the s7 driver's
// prepared reads.
package gateway
