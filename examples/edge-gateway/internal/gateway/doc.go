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
// # An HA pair
//
// With an ha section (package ha) the gateway is one node of an
// active/standby pair. The elector runs under the supervisor on the
// lease device's driver; every driver the write path uses is wrapped in
// its fence, so a write of a node that does not hold the lease right now
// is refused before the device, answered 409 with code "fenced" and
// audited. Only the active forwards to the uplink and takes the command
// topic: both children start and stop on role changes.
//
// A warm standby (the default) polls into its own spool without
// forwarding; its spool is trimmed as a ring of the last two failover
// timeouts (batches older are acknowledged unsent), so a standby of
// weeks neither fills the disk nor floods the uplink on takeover. On
// takeover it forwards that stretch first: from two timeouts before the
// takeover, which covers the timeout the old active may have been dead
// for and one more it may not yet have forwarded; the store absorbs what
// both sent. Audit records (a write the standby refused) are appended
// again instead of dropped, and anything spooled before the standby
// period (while this node was active, or in an earlier run) stops the
// trimming: an old active's unforwarded data is forwarded on its next
// turn as active, never discarded. A cold standby neither polls nor
// subscribes until it is active.
//
// Each node asks its peer (ha.peer, the other's HTTP address) for GET
// /api/ha/peer every quarter timeout; /api/status shows role, lease,
// the last role change and its cause, the time since the last failover
// and the heartbeat in both directions, and a configuration mismatch
// (a digest of the point database, the devices' settings but local_tsap,
// the tenant and the lease) is a /healthz problem (503). POST
// /api/ha/switchover with the token makes the active resign (audited as
// tag "ha:switchover").
//
// # Performance
//
// Throughput, latency and memory of the whole data path at 10,000 to
// 100,000 tags, with the commands that measure them, are in
// docs/BENCHMARKS.md ("Edge gateway data path").
package gateway
