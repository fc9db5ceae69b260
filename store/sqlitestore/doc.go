// Package sqlitestore is the embedded store.Store: samples in one SQLite
// file (pure Go, modernc.org/sqlite), in WAL mode so readers never block
// the writer. It keeps the same contract as pgstore: faithful typed values
// and quality, one row per (tenant, tag, source time) however often a
// batch is written, atomic batches, retention by source time.
//
//	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: "/var/lib/kiln/samples.db", Retention: 30 * 24 * time.Hour})
//	if err != nil { ... }
//	defer s.Close()
//	go s.Serve(ctx) // deletes expired samples every MaintenanceInterval
//	res, err := s.Write(ctx, "acme", samples)
//
// Tenants are kept apart by the queries (every statement names the
// tenant); SQLite has no row-level security, so in an embedded deployment
// the process is the security boundary. Source times are stored in Unix
// microseconds (store.Resolution), values as kind plus 64 raw bits or
// bytes, so NaN, -0 and 64-bit integers come back exactly.
package sqlitestore
