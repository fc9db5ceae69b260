// Package gateway composes the edge gateway from kiln's parts, under one
// supervisor tree: drivers → poller (and OPC UA subscriptions) → batcher →
// spool → forwarder → transport, the checked-write path fed by HTTP and the
// command topic, and the HTTP JSON API.
//
//	g, err := gateway.New(ctx, cfg, gateway.WithLogger(log))
//	if err != nil { … }
//	defer g.Close()
//	err = g.Serve(ctx) // until ctx is done: stops polling, flushes, returns
//
// With the Pulsar transport, sample batches go to the data topic and write
// audit records (transport/command; they answer the command topic's
// requests) to the audit topic, both drained from the one spool in order
// (transport/route). With the embedded transport the audit records go to
// <data_dir>/audit.jsonl.
//
// The demo plant is not linked here: the command passes it with
// WithPlant (package internal/demo) unless built with -tags nodemo.
//
// /healthz is 503 while the spool refuses appends or no device reads
// good; its problems name each down device with the driver's connection
// error where the driver reports one (plc.ConnectionReporter).
//
// # A spool that refuses appends
//
// When the spool's disk is full or read-only, the batcher
// (transport/batcher) keeps the refused batches in a bounded in-memory
// backlog (WithBacklogBytes, 32 MiB by default) and polling goes on; a
// supervised child retries the backlog, in order, as fast as the spool
// takes it again, and new batches queue behind it. Meanwhile
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
// Throughput, latency and memory of the whole data path at 10,000 to
// 100,000 tags, with the commands that measure them, are in
// docs/BENCHMARKS.md ("Edge gateway data path").
package gateway
