// Package batcher turns the samples a poller or a subscription delivers
// into wire batches in a spool: it is the plc.Sink in front of a
// spool.Spool. Each call's samples become one or more batches (at most
// Config.MaxBatch samples each) stamped with the source, the tenant and a
// sequence number that increases across restarts, appended durably before
// WriteSamples returns.
//
// It is named for the job it does between the two rooms it joins, the
// plc sink and the spool: it batches. A disk that fills up does not stop
// polling: the batches the spool refuses wait, in order, in a bounded
// in-memory backlog that Serve retries (the delay starting afresh
// whenever a retry wrote part of it, so the backlog drains as fast as the
// spool frees space), later batches queue behind it, and past
// Config.BacklogBytes the oldest are dropped, every dropped sample
// counted and logged. Health reports the refusal until the backlog is
// written.
//
//	b, err := batcher.New(sp, batcher.Config{Source: "gw-1", Tenant: "acme"}, batcher.WithLogger(log))
//	if err != nil { ... }
//	go b.Serve(ctx)                                      // retries a refused backlog; supervise it
//	poller, err := plc.NewPoller(db, drivers, b, plc.WithPollerMaxBatch(b.MaxBatch()))
//	...
//	if err := b.Health(); err != nil { ... }             // the spool refuses appends: not ready
package batcher
