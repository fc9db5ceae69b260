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
package store
