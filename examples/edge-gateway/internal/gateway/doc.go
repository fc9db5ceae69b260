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
// returns the backlog is written and the gateway is ready again. Writes
// (HTTP and command topic) are refused meanwhile before they reach the
// device, with code "audit_unavailable" (HTTP 503): their audit record
// could not be kept. The
// embedded store's consumer goes on as well: when the spool cannot write
// its cursor file for an acknowledgement, that is logged and the cursor is
// written with the next one (a restart meanwhile delivers the stored
// batches again, which the store ignores).
//
// # Performance
//
// Measured with go run ./bench/gateway -tags 10000,50000,100000 -duration
// 20s -warmup 10s -gomemlimit 120MiB (N DINT tags scanned every 100 ms and
// changing every period; s7sim → gateway process → pulsartest → two cloud
// ingestors → PostgreSQL, all on 2 shared cores; see docs/BENCHMARKS.md):
//
//	| tags    | change every | offered/s | stored/s | change→row p50 | p99     | gateway RSS max | target met |
//	| 10,000  | 100 ms       |    99,714 |   99,714 |          80 ms |  210 ms |          63 MiB | yes        |
//	| 10,000  | 200 ms       |    49,876 |   50,171 |          57 ms |  275 ms |          64 MiB | yes        |
//	| 50,000  | 100 ms       |   500,837 |  177,183 |         8.57 s | 16.65 s |         128 MiB | no         |
//	| 50,000  | 1 s          |    49,854 |   49,854 |         148 ms |  483 ms |         128 MiB | yes        |
//	| 100,000 | 100 ms       |   997,503 |  210,027 |        13.34 s | 20.65 s |         141 MiB | no         |
//	| 100,000 | 2 s          |    54,882 |   49,893 |         223 ms |  579 ms |         139 MiB | yes        |
//
// 50,000 samples/s with p99 < 1 s holds at every size; 0.5 and 1 million
// samples/s exceed what the cloud half on the same machine stores, and the
// surplus waits in the spool. RSS stays under 150 MiB at 100,000 tags with
// GOMEMLIMIT=120MiB (the live heap is about 90 MiB; without the limit RSS
// reached 203 MiB at 100,000 tags every 2 s).
//
// The edge-gateway command sets that soft memory limit by default
// (config.AutoMemoryLimit: 24 MiB + 1,000 bytes per tag, at least 64 MiB;
// 119.4 MiB at 100,000 tags). go run ./bench/gateway -tags 100000 -duration
// 20s -warmup 10s, without GOMEMLIMIT:
//
//	| tags    | change every | offered/s | stored/s | change→row p50 | p99     | gateway RSS max | soft limit       | target met |
//	| 100,000 | 100 ms       | 1,001,065 |  240,304 |        11.83 s | 18.22 s |         135 MiB | 119.4 MiB (auto) | no         |
//	| 100,000 | 2 s          |    54,861 |   49,874 |         209 ms |  531 ms |         136 MiB | 119.4 MiB (auto) | yes        |
package gateway
