// Package forward drains a spool into any transport.Publisher: the
// store-and-forward uplink of a gateway.
//
// A Forwarder reads the spool in order and publishes batches, keeping up
// to MaxInFlight messages in flight. It acknowledges to the spool only the
// prefix of messages the publisher confirmed, so a crash or a lost link
// loses nothing. A failed or unconfirmed batch (ConfirmTimeout) makes it
// wait for the batches in flight, then publish every unconfirmed message
// again, in spool order, after an exponential backoff with jitter. The
// publisher is wrapped in a circuit breaker (github.com/sony/gobreaker):
// after consecutive failures it opens and a dead link costs nothing until
// a trial batch succeeds. Messages reach the destination at least once;
// a destination that keeps per-source sequence numbers (the wire
// encoding's) can drop repeats.
//
//	f, err := forward.New(sp, pulsarPublisher, forward.Config{})
//	...
//	err = f.Serve(ctx) // until ctx is done; then waits for confirmations
//	st := f.Status()   // lag (records, bytes, oldest age), breaker state
//
// Forwarder implements prometheus.Collector; register it with the
// caller's registry.
package forward
