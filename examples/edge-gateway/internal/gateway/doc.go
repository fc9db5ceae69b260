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
// # Performance
//
// Measured with go run ./bench/gateway -tags 10000,50000,100000 (N DINT
// tags all changing every 100 ms; s7sim → gateway process → pulsartest →
// two cloud ingestors → PostgreSQL, all on 2 shared cores; see
// docs/BENCHMARKS.md):
//
//	| tags    | offered/s | stored/s | change→row p50 | p99    | gateway RSS | gateway CPU |
//	| 10,000  |   100,024 |  100,356 |          83 ms | 365 ms |      88 MiB |  0.06 cores |
//	| 50,000  |   501,083 |  116,882 |        14.85 s | 28.1 s |     255 MiB |  0.21 cores |
//	| 100,000 |   997,657 |  173,559 |        15.83 s | 30.1 s |     467 MiB |  0.41 cores |
//
// Beyond 10,000 tags the cloud half on the same machine is the limit and the
// surplus waits in the spool. RSS above 150 MiB at 100,000 tags comes from
// the per-tag state of package plc's point database, poller and writer.
package gateway
