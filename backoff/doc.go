// Package backoff computes retry delays: exponential growth with
// partial jitter and a cap, as every reconnecting part of kiln needs.
//
//	b := backoff.New(backoff.Config{})
//	for attempt := 0; ; attempt++ {
//		if err := connect(ctx); err == nil {
//			b.Reset()
//			break
//		}
//		if err := b.Wait(ctx); err != nil { // ctx done
//			return err
//		}
//	}
package backoff
