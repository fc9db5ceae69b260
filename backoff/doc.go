// Package backoff computes retry delays: exponential growth with
// partial jitter and a cap, as every reconnecting part of kiln needs, and
// sleeps them on an injectable clock.
//
//	for attempt := 0; ; attempt++ {
//		if err := connect(ctx); err == nil {
//			break
//		}
//		if err := backoff.Sleep(ctx, clk, backoff.Delay(cfg, attempt, rand.Float64())); err != nil {
//			return err // ctx done
//		}
//	}
//
// A driver that keeps a session up uses package reconnect, which applies
// these delays with the stable-session rule.
package backoff
