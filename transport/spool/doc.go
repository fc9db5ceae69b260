// Package spool is kiln's durable on-disk FIFO: the store-and-forward
// buffer between a gateway's poller and its uplink, and the embedded
// default transport for deployments without a broker.
//
// Records are appended to segment files in one directory, each framed
// with its length, a CRC-32C, a sequence number and its append time.
// Append returns once the records are as durable as the sync policy
// promises ("always": fsync per record, "batch": per Append call,
// "interval": in the background). One Reader hands records out in order
// and takes acknowledgements; the acknowledged position (the cursor) is
// stored and fsynced (by Ack, or under "interval" every SyncInterval), so
// after a crash or a power loss reading resumes after the last stored
// acknowledgement (at-least-once). Segments holding only acknowledged
// records are deleted once the stored cursor covers them, so a restart
// never finds acknowledged records missing and counts them lost. If the
// cursor file cannot be written, Ack returns a *StorageError naming it
// (under "interval" the sync loop logs it) and the segments stay: the
// next Ack (sync loop tick), Append or Close retries the store, and a
// restart before one succeeds delivers those records again rather than
// counting them lost.
//
// The directory's size is capped: at the cap Append blocks until space
// is freed (honouring its context) or drops the oldest segments, counting
// and logging every record dropped. A segment is dropped only after the
// cursor past it is stored; while the cursor file cannot be written,
// Append at the cap returns that error instead of dropping or waiting.
// Open recovers from crashes: a torn record at the end of the last
// segment is truncated; a corrupt record elsewhere is skipped and its
// bytes counted, never handed out; once the reader has passed it, the
// records lost with it (the sequence numbers missing) are counted too and
// leave the depth. A full or read-only file system makes Append return a
// *StorageError matching ErrNoSpace or ErrReadOnly, leaving what is
// stored intact; Append works again once space returns.
//
// The main calls:
//
//	s, err := spool.Open(spool.Config{Dir: "/var/lib/kiln/spool"})
//	...
//	err = s.Append(ctx, rec1, rec2) // durable when it returns nil
//	r, err := s.OpenReader()
//	recs, err := r.Next(ctx, 64)
//	err = r.Ack(recs[len(recs)-1].Seq)
//
// Publisher and Subscriber implement transport.Publisher and
// transport.Subscriber over a spool, storing each transport.Message in
// one record (AppendMessage, DecodeMessage). A spool has one consumer: a
// second OpenReader or NewSubscriber returns ErrReaderBusy, and a second
// Open of the same directory, in any process, returns ErrLocked. The
// forwarder (package transport/forward) drains a spool into another
// Publisher.
//
// Spool implements prometheus.Collector; register it with the caller's
// registry.
//
// Concurrent Appends are serialized and each pays its own fsync under the
// "batch" policy: there is no group commit across callers. A producer
// gets throughput by appending many records per call (the gateway
// appends one batch per scan), which costs one fsync for all of them.
//
// # Performance
//
// The spool costs a 28-byte header and a CRC per record; the fsync
// dominates, so its appends run at about the speed of a plain write and
// fsync of the same bytes, and recovering a 1 GiB spool takes well under
// a second. spoolbench (go run ./transport/spool/cmd/spoolbench) and
// go test -bench Append measure both; the figures, with their commands,
// are in docs/BENCHMARKS.md.
package spool
