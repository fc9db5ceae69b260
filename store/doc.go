// Package store keeps time series of plc samples per tenant, behind one
// interface with two implementations:
//
//   - pgstore: PostgreSQL via pgx, for the cloud. Versioned migrations run
//     by the library; samples partitioned by source time, partitions
//     created ahead and dropped by retention; writes COPY into a staging
//     table and INSERT … ON CONFLICT DO NOTHING into the partitioned
//     table; row-level security keeps every transaction inside one tenant.
//   - sqlitestore: SQLite (pure Go, WAL mode), the embedded default.
//
// Both keep the same contract, checked by the storetest suite: values come
// back with their exact kind and bits (64-bit integers, NaN, -0, strings,
// byte strings), with their quality and their source time at microsecond
// Resolution; a batch is written whole or not at all; and a (tenant, tag,
// source time) is stored once however often it is written, so
// at-least-once delivery upstream ends as exactly one row.
//
//	var s store.Store = pg // or an *sqlitestore.Store
//	res, err := s.Write(ctx, "acme", samples) // res.Inserted, res.Duplicates, res.Expired
//	latest, err := s.Latest(ctx, "acme")
//	page, err := s.Range(ctx, "acme", "Line1.Temp", from, to, 1000)
//
// Tenant-scoped use (quotas, a fixed tenant) goes through tenant.Store.
//
// # Write throughput
//
// Rows/s into PostgreSQL 15 for 1M samples (1000 tags, LREAL values),
// batches of 10,000, one connection, one throwaway server with fsync off,
// all methods in the same run, median of 3 rounds on fresh tables, on a
// 2-core machine shared with other work (go run ./bench/storebench):
//
//	method                                                        rows/s (median)      min      max  (a) ÷ this
//	(b) COPY into a plain table, no key (ceiling)                         1293179  1160621  1309276        0.18
//	(a) kiln pgstore.Write: COPY → staging → INSERT, idempotent            237433   205127   324011        1.00
//	(a') pgstore.Write of the same samples again: all duplicates           329981   212281   356017        0.72
//	(c) INSERT … ON CONFLICT DO NOTHING, 1000 rows per statement           166446   110096   168943        1.43
//	(ref) COPY into a plain table with the primary key                     326991   274307   457101        0.73
//
// The idempotent path is 1.4× the multi-row upsert, 0.73× a COPY into a
// table with the same key, and 0.18× the keyless COPY. What it pays for
// is mostly the unique index on (tenant, tag, ts) that makes duplicates
// impossible, which a COPY into the same table with that key pays as well
// (ref). A plain INSERT from the staging
// table, falling back to ON CONFLICT DO NOTHING only when a unique
// violation shows duplicates, roughly halves the cost of always using ON
// CONFLICT (speculative insertion).
package store
