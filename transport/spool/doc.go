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
// persisted, so after a crash reading resumes at the first
// unacknowledged record (at-least-once). Segments holding only
// acknowledged records are deleted.
//
// The directory's size is capped: at the cap Append blocks until space
// is freed (honouring its context) or drops the oldest segments, counting
// and logging every record dropped. Open recovers from crashes: a torn
// record at the end of the last segment is truncated; a corrupt record
// elsewhere is skipped and its bytes counted, never handed out. A full or
// read-only file system makes Append return a *StorageError matching
// ErrNoSpace or ErrReadOnly, leaving what is stored intact; Append works
// again once space returns.
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
package spool
