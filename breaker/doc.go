// Package breaker is the one configuration of a circuit breaker in kiln:
// the S7 and Modbus drivers', the Pulsar publisher's and the forwarder's
// breakers are all a Config written as {failures, open_for}.
//
// A part embeds a Config in its own and makes its gobreaker from it:
//
//	cb := gobreaker.NewCircuitBreaker[[]byte](cfg.Breaker.Settings("plc1"))
//
// Refused tells the breaker's refusal of a call from the call's own
// failure, and Gauge is a state's value for a state gauge.
package breaker
