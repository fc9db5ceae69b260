// Package store keeps time series of plc samples per tenant, behind one
// interface with two implementations:
//
//   - pgstore: PostgreSQL via pgx, for the cloud. Versioned migrations run
//     by the library; samples partitioned by source time, partitions
//     created ahead and dropped by retention; writes COPY into a staging
//     table and INSERT into the partitioned table, skipping duplicates
//     (ON CONFLICT DO NOTHING); row-level security keeps every
//     transaction inside one tenant, optionally with a separate owner role
//     so the writing role cannot switch it off.
//   - sqlitestore: SQLite (pure Go, WAL mode), the embedded default.
//
// Both keep the same contract, checked by the storetest suite: values come
// back with their exact kind and bits (64-bit integers, NaN, -0, strings,
// byte strings), with their quality and their source time at microsecond
// Resolution; a write is stored whole or not at all; a Batch named by
// (Source, Epoch, Seq) is recorded in the transaction that stores it and
// skipped whole when it comes again, in any order, from any number of
// writers at once; and a (tenant, tag, source time) is stored once however
// often it is written, so at-least-once delivery upstream ends as exactly
// one row.
//
// # Batch identity and epochs
//
// A source numbers its batches with Seq, increasing; Epoch names one run
// of that numbering. Whenever a source may number again from an old or
// unknown point (a restart without its state, a fresh spool, a clock set
// back), it must pick a new Epoch; the edge gateway picks a random one at
// every start, and sends it in the wire batch (transport/wire, field 5).
// Since the store skips exact identities only, never "everything below a
// high-water mark", batches arriving out of order are all written, and a
// gateway restarted with a reset sequence loses nothing: its batches are
// new by their epoch, while the old epoch's batches still in its spool
// keep their identity and are skipped if already stored.
//
//	var s store.Store = pg // or an *sqlitestore.Store
//	res, err := s.WriteBatches(ctx, "acme", []store.Batch{{Source: "gw-1", Epoch: epoch, Seq: seq, Samples: samples}})
//	// res.Inserted, res.Duplicates, res.Expired, res.Redelivered
//	latest, err := s.Latest(ctx, "acme")
//	page, err := s.Range(ctx, "acme", "Line1.Temp", from, to, 1000)
//	now, err := s.LatestOf(ctx, "acme", []string{"Line1.Temp", "Line1.Run"})
//	trend, err := s.Aggregate(ctx, "acme", store.AggregateQuery{
//		Tag: "Line1.Temp", From: from, To: to, Buckets: 1000, // one per pixel
//	})
//
// # Trend queries
//
// Aggregate cuts a time range into N buckets and returns, per bucket, the
// sample count, whether any sample was bad, and over the numeric samples
// of usable quality the min/max envelope (so a 1000-pixel chart of a year
// of 1 Hz data still shows every spike), first, last, mean and the
// time-weighted mean of the value held as a step function (see Bucket).
// Both backends read the tag's samples in time order and fold them in one
// pass (store/internal/agg); storetest checks the result against a
// brute-force computation over random data.
//
// Tenant-scoped use (quotas, a fixed tenant) goes through tenant.Store.
//
// # Write throughput
//
// Rows/s into PostgreSQL 15 for 1M samples of 100,000 tags, interleaved,
// in batches of 1000 as the gateway sends them, one connection, one
// throwaway server with fsync off, all methods in the same run on fresh
// tables, on the 2-core machine shared with other work (load average
// 16–18 during this run, which slows every row alike; go run
// ./bench/storebench -n 1000000 -tags 100000 -batch 1000 -rounds 1):
//
//	method                                                                rows/s  (a) ÷ this
//	(b) COPY into a plain table, no key (ceiling)                          91945        0.20
//	(a) kiln pgstore.WriteBatches: batch record, COPY → staging → INSERT   18459        1.00
//	(a') the same batches again: skipped by their batch records           485745        0.04
//	(c) INSERT … ON CONFLICT DO NOTHING, 1000 rows per statement           20898        0.88
//	(ref) COPY into a plain table with the primary key                     41163        0.45
//	(x) COPY → staging → INSERT, keyed table, no partitions, no RLS        18169        1.02
//	(x') the same, moved ORDER BY tag, ts                                  24123        0.77
//
// A redelivered batch costs one index probe per batch (a'), 26× less
// than writing it, and 5× less than the row-by-row duplicate check it
// replaces. Writing new rows is still bound by the per-row primary key
// (tenant, tag, ts) on text keys: (ref), a bare COPY into a table with
// just that key, reaches 0.45× the ceiling here, and (a) ≈ (x), so the
// batch record, partitions and row-level security cost little next to
// the index. The target (a) ≥ 0.7×(b) needs the per-row unique index
// gone: with batch records deciding redelivery, a layout of integer tag
// ids appended without a per-row B-tree and compacted in the background
// can drop it; that layout is not built yet.
package store
