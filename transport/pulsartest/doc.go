// Package pulsartest is an in-process Apache Pulsar broker speaking the
// Pulsar binary protocol, for tests and demos: the real
// github.com/apache/pulsar-client-go client talks to it unmodified.
//
//	b, err := pulsartest.New(pulsartest.Config{}) // 127.0.0.1, random port
//	if err != nil { ... }
//	defer b.Close()
//	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: b.URL()})
//
// It implements the subset of the protocol the client uses: connect,
// partitioned-topic metadata (every topic has 0 partitions), lookup
// (answered with the broker's own URL), producers with send receipts in
// order, consumers with flow permits, individual, cumulative and grouped
// acks, redelivery of unacknowledged messages, unsubscribe, ping/pong in
// both directions, get-last-message-id and seek. Frames carry the magic
// number and CRC32C checksum; batches and compressed payloads are stored
// and delivered intact. The wire encoding is written with
// google.golang.org/protobuf/encoding/protowire from the facts in the
// client's PulsarApi.proto.
//
// Semantics follow Pulsar's: topics persistent://tenant/namespace/topic
// keep messages in order with increasing message ids (also across
// restarts); subscriptions start at Latest or Earliest; Exclusive,
// Failover, Shared and Key_Shared dispatch; a consumer's unacknowledged
// messages go to the others when it leaves; the broker deduplicates by
// producer name and sequence id and tells a reconnecting producer its last
// sequence id. Stats reports published, deduplicated, acknowledged and
// backlog counts per subscription for test assertions.
//
// With AuthConfig tokens, clients authenticate with
// pulsar.NewAuthenticationToken; a role may produce or consume only where
// a Grant allows it, and otherwise gets the AuthorizationError a real
// broker sends.
//
// Faults for tests: DropConnections, Stop and Restart on the same port
// (keeping all messages; with Config.DataDir they also survive a new
// process), SetReceiptDelay, WithholdReceipts, RejectSends and Unload.
//
// The command pulsartest/cmd/pulsartest runs the broker as a process for
// multi-process tests.
//
// # Durability of the data directory
//
// Writes to Config.DataDir are not fsynced, on purpose. The directory is
// there so that messages outlive the broker process: a test kills it
// (even with SIGKILL) and starts it again, and the operating system's page
// cache still holds every write, so nothing is lost. Only a crash of the
// machine or its power could lose the last writes (a torn log tail is cut
// when the directory is opened again; a torn subscriptions file is
// reported by New, naming the topic, and the directory must then be
// cleared). Syncing would not buy a test anything: what the tests check is
// the crash safety of the code under test (the spool fsyncs), not of the
// broker standing in for Pulsar, whose own storage is replicated
// BookKeeper. And it would cost the one thing a test broker must not
// have: a disk flush of milliseconds on every send, which would make
// throughput and latency measurements through pulsartest measure the
// disk, and slow every test that uses a data directory.
//
// Not implemented: partitioned topics, schemas beyond bytes, transactions,
// chunked-message reassembly, batch-index acknowledgment (an entry counts
// as acknowledged when all its messages are), delayed delivery, retention
// limits (every message is kept), TLS.
//
// # Performance
//
// Through the real client on loopback, 200-byte messages, one producer and
// one consumer, on a 2-core machine shared with other jobs:
//
//	go test -run '^$' -bench Throughput -benchtime 100000x ./transport/pulsartest/
//
//	batching  rate         msgs/s    e2e p50    e2e p99
//	on        as fast      233,000    89 ms     144 ms   (751,000 msgs/s, p99 62 ms on a quieter run)
//	off       as fast       47,000   245 ms     629 ms
//	on        10k/s         10,000   1.2 ms     2.4 ms
//	off       10k/s         10,000   0.19 ms    1.6 ms
//
// A second run of the same command, with the machine busier (load average
// about 7 on 2 cores), gave 357,000 msgs/s (p99 55 ms) batched and 54,800
// msgs/s (p99 913 ms) unbatched as fast as possible, and p99 9.2 ms and
// 7.2 ms paced at 10k/s.
//
// The broker alone (BenchmarkBrokerPath: raw frames, unbatched, with a
// consumer acking) spends about 1.6 µs of CPU per message, and in the
// batched run above about 6 % of the process's CPU: the client, not the
// broker, limits throughput, well past 200k msg/s.
package pulsartest
