// Package ingest is the cloud side of kiln's data path: it moves sample
// batches from every tenant's sample topics into the store, exactly once
// in rows, and is the library behind the cloud-ingestor service.
//
// For each tenant of a tenant.Registry and each of its namespaces, an
// Ingestor subscribes to persistent://<tenant>/<namespace>/samples
// (through the tenant's tenant.Transport, so it can open nothing else).
// With a shared Pulsar subscription, N replicas share the load. Each
// message is a wire.Batch:
//
//   - a batch naming another tenant than its topic's is never written: it
//     goes to the namespace's dead-letter topic (samples-dlq) at once and
//     is counted (reason tenant_mismatch);
//   - a malformed message (not a kiln batch, undecodable, or with invalid
//     samples) is nacked and, on its MaxDeliveries-th delivery, moved to
//     the dead-letter topic (reason malformed); the messages after it go
//     on meanwhile;
//   - the samples of good messages are batched per topic until
//     MaxBatchSamples or MaxBatchDelay, written in one transaction through
//     the tenant-scoped tenant.Store, and the messages acknowledged only
//     after the commit. Each message is one store.Batch named by its
//     (source, epoch, seq): the store records it in the same
//     transaction and skips a batch already recorded, and repeated
//     samples are skipped by the store's (tenant, tag, time) key, so
//     at-least-once delivery ends as one row per sample.
//
// A failing store is retried with backoff while the messages stay
// unacknowledged (Health reports it); a batch the store refuses for good
// (a *store.SampleError, a tenant quota waiting cannot meet) is written
// message by message and the refused ones dead-lettered (reason
// rejected). Rate quotas delay writes instead of failing them.
//
//	in, err := ingest.New(ingest.Config{}, registry, pgStore,
//		func(ctx context.Context, topic string) (transport.Subscriber, error) {
//			return kpulsar.NewSubscriber(kpulsar.SubscriberConfig{Client: cc, Topic: topic, Subscription: "kiln-ingestor"})
//		},
//		func(ctx context.Context, topic string) (transport.Publisher, error) {
//			return kpulsar.NewPublisher(kpulsar.PublisherConfig{Client: cc, Topic: topic})
//		},
//		ingest.WithLogger(log))
//	registry.MustRegister(in)     // Prometheus metrics
//	err = in.Serve(ctx)           // until ctx is done, then drains
//	err = in.Health()             // for /healthz
//
// When Serve's context is done it stops receiving, writes and
// acknowledges what it holds (within DrainTimeout), closes its
// subscribers and returns. A process killed instead loses nothing: the
// broker redelivers what was not acknowledged, and the store skips what
// had been committed.
//
// Metrics (Ingestor is a prometheus.Collector; all labelled by tenant):
// kiln_ingest_rows_total (rows/s is its rate), kiln_ingest_batch_seconds
// (write latency), kiln_ingest_lag_seconds (at the last commit, the age
// of the batch's oldest message), kiln_ingest_dead_letters_total{reason},
// kiln_ingest_pending_messages, kiln_ingest_messages_total,
// kiln_ingest_duplicate_samples_total, kiln_ingest_expired_samples_total,
// kiln_ingest_nacks_total, kiln_ingest_write_errors_total,
// kiln_ingest_quota_waits_total and kiln_ingest_batch_samples.
//
// # Performance
//
// BenchmarkIngest, samples per second into PostgreSQL (internal/pgtest,
// fsync off) for 100,000 samples in messages of 100: "store" writes the
// decoded batches straight through pgstore in transactions of 5,000 (the
// ceiling), "pulsar-1"/"pulsar-2" publish them to pulsartest and wait
// until one or two ingestor replicas (default Config) have stored every
// row. Three runs each, 2 shared cores (AMD EPYC, load average 7–8 from
// other work), go1.26.8; broker, replicas and PostgreSQL on the same cores:
//
//	go test ./ingest -run '^$' -bench Ingest -benchtime 1000x -count 3
//
//	| path     | run 1     | run 2     | run 3     |
//	| -------- | --------: | --------: | --------: |
//	| store    | 174,187/s | 282,528/s | 293,242/s |
//	| pulsar-1 | 211,948/s | 187,051/s | 224,029/s |
//	| pulsar-2 | 156,514/s | 204,620/s | 171,768/s |
//
// One replica reaches about 0.7–0.8 of the direct write path; on two
// cores a second replica only adds contention (it pays off where
// replicas have cores of their own). A replica writes one batch per topic
// at a time; meanwhile the topic's next messages wait in the client's
// receive queue.
package ingest
