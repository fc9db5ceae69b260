// Package transport holds the contracts for moving bytes reliably between
// kiln's parts: a Message, a Publisher that reports per message when the
// destination holds it durably, and a Subscriber whose deliveries are
// acknowledged only after they were processed.
//
// Every arrow of kiln's data path is at-least-once: nothing is
// acknowledged upstream before it is durable downstream. The
// implementations live in subpackages:
//
//   - transport/spool: the crash-safe disk FIFO, also the embedded
//     Publisher/Subscriber for deployments without a broker;
//   - transport/forward: drains a spool into any Publisher;
//   - transport/pulsar: Apache Pulsar;
//   - transport/pulsartest: an in-process Pulsar broker for tests;
//   - transport/wire: the versioned encoding of sample batches carried in
//     Message payloads.
//
// Publishing a batch and waiting for every message's completion:
//
//	var wg sync.WaitGroup
//	wg.Add(len(msgs))
//	err := pub.Publish(ctx, msgs, func(i int, err error) {
//		defer wg.Done()
//		// err == nil: msgs[i] is durable at the destination
//	})
//	if err == nil {
//		wg.Wait()
//	}
package transport
