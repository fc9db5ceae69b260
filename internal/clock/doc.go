// Package clock makes time injectable: code under test takes a Clock, the
// real one in production and a Fake in tests, so tests of backoff, restart
// intensity, scan rates and deadband timers are exact and never sleep.
package clock
