// Package pulsar moves kiln messages over Apache Pulsar: a
// transport.Publisher and a transport.Subscriber built on
// github.com/apache/pulsar-client-go (v0.19.0), made for gateways behind
// 4G and VPN links.
//
//	pub, err := pulsar.NewPublisher(pulsar.PublisherConfig{
//		Client:       pulsar.ClientConfig{URL: "pulsar://broker:6650", Token: token},
//		Topic:        "persistent://acme/line1/samples",
//		ProducerName: "gw-line1", // stable across restarts: broker dedup
//	})
//	err = pub.Publish(ctx, msgs, func(i int, err error) { ... }) // nil = broker receipt
//
//	sub, err := pulsar.NewSubscriber(pulsar.SubscriberConfig{
//		Client: pulsar.ClientConfig{URL: "pulsar://broker:6650"},
//		Topic: "persistent://acme/line1/samples", Subscription: "ingest",
//		Type: pulsar.KeyShared, MaxRedeliveries: 5, Concurrency: 8,
//	})
//	err = sub.Serve(ctx, func(ctx context.Context, m transport.Message) error { ... })
//
// # Publisher
//
// Sends are asynchronous, batched (up to 1000 messages or 10 ms) and
// LZ4-compressed by default (ZSTD for thin links). A message's completion
// is reported only on the broker's receipt. The producer keeps one name,
// and every message carries an explicit sequence id that only grows, also
// across restarts of the process: the first message goes without one, the
// client numbers it after the broker's last sequence id for that name, and
// the Publisher continues from its receipt (so a wrong clock at boot
// cannot make new messages look like old ones). The broker's
// deduplication (by producer name and sequence id) then drops the copies
// it already has.
//
// Know the client: on reconnect it re-sends pending messages with the
// same sequence ids (pulsar-client-go #731; the broker drops those copies
// when deduplication is on); with a finite MaxReconnectToBroker a producer
// stays broken forever (#458). So the client reconnects without limit,
// and when a send still fails or times out (SendTimeout), the Publisher
// closes the producer, creates a new one with backoff, and sends every
// unconfirmed message again in sequence order, unbatched, so the broker
// can drop each copy it already stored. A timed-out send is never
// reported lost. Messages of a batch whose receipt was lost and that are
// sent again this way may be stored twice (Pulsar deduplicates a batch by
// its first sequence id only); the path is at-least-once, the store is
// idempotent.
//
// NewPublisher does not wait for the broker: it creates the producer in
// the background and retries; Publish accepts messages meanwhile (up to
// MaxPending) and they go out once it is up. Health reports
// ErrUnavailable until then. A circuit breaker (github.com/sony/gobreaker)
// opens after consecutive failures; while it is open Publish returns
// ErrUnavailable at once and accepts nothing. Connection timeout 5 s and
// keepalive 5 s notice a dead link in 10–15 s instead of the client's
// 60–90 s. Publisher implements prometheus.Collector.
//
// # Subscriber
//
// Shared, key-shared, failover and exclusive subscriptions; Serve
// acknowledges a message after its handler returns nil and nacks it
// otherwise (redelivered after NackDelay; after MaxRedeliveries it moves
// to the dead-letter topic). ReceiverQueueSize and Concurrency tune the
// flow. A nack of one message of a batch redelivers the whole batch, as
// in Pulsar without batch-index acknowledgment. The consumer is
// subscribed in the background, like the producer.
//
// # Health
//
// Publisher.Health and Subscriber.Health return an error wrapping
// ErrUnavailable (and the cause, e.g. the broker's AuthorizationError)
// until the producer or consumer exists, and afterwards whenever the
// client holds no open connection to a broker, also while nothing is sent
// or received: the client exposes no per-consumer connection state, so
// this is read from the connection counters it keeps in a Prometheus
// registry private to each Publisher and Subscriber (the client's metrics
// never go to the global registry). With several brokers a connection to
// another broker can hide the loss of one for the few seconds the client
// takes to move; the case that matters at the edge, a dead link, is seen
// within about twice KeepAlive.
//
// The client's unbatched send path races with its own reconnect
// (pulsar-client-go v0.19.0, found with -race): keep batching on where
// connections drop.
//
// # Performance
//
// Throughput and end-to-end latency through this client into
// transport/pulsartest (batching on and off, as fast as possible and
// paced) are measured there, with the command that produced them: see
// the Performance section of package pulsartest.
package pulsar
