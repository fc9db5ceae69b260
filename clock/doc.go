// Package clock makes time injectable: code under test takes a Clock, the
// real one in production and a Fake in tests, so tests of backoff, restart
// intensity, scan rates and deadband timers are exact and never sleep.
//
// kiln's parts take a Clock through their options (plc.WithPollerClock,
// supervise.WithClock, …), so users' own tests can drive them with a Fake
// too:
//
//	fake := clock.NewFake(time.Now())
//	sup, _ := supervise.New(cfg, supervise.WithClock(fake))
//	...
//	fake.BlockUntil(1)        // the supervisor waits on a timer
//	fake.Advance(time.Second) // and now it fires
package clock
