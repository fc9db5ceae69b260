// Package gateway composes the edge gateway from kiln's parts, under one
// supervisor tree: drivers → poller (and OPC UA subscriptions) → encoder →
// spool → forwarder → transport, the checked-write path fed by HTTP and the
// command topic, and the HTTP JSON API.
//
//	g, err := gateway.New(ctx, cfg, gateway.WithLogger(log))
//	if err != nil { … }
//	defer g.Close()
//	err = g.Serve(ctx) // until ctx is done: stops polling, flushes, returns
package gateway
