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
// the process is the security boundary.
//
// Schema. Open runs the versioned migrations (kiln_schema_migrations) in
// one transaction; a database of an older version upgrades in place. In
// kiln_samples source times are Unix microseconds (store.Resolution);
// BOOL, integers (unsigned as two's complement) and DATETIME (Unix ns)
// are in the INTEGER column num, REAL and LREAL in the REAL column fval
// (num keeps a float's IEEE 754 bits only for NaN and -0, which REAL
// cannot hold), STRING and BYTESTRING in the BLOB str, so NaN, -0 and
// 64-bit integers come back exactly. kiln_batches records the identity
// of every batch written (see store.Batch).
//
// The view kiln_samples_view decodes the samples for people:
//
//	$ sqlite3 samples.db "SELECT time, tag, kind, value_text, value_number, quality, reason, detail
//	      FROM kiln_samples_view WHERE tenant = 'acme' AND tag = 'Line1.Temp' ORDER BY time_us DESC LIMIT 5"
//
// Its columns: tenant, tag, time (ISO 8601 UTC text with microseconds),
// time_us (Unix µs, the indexed key: filter and sort on it), kind (BOOL,
// INT, LREAL, …), value_number (a number for BOOL, the integer kinds and
// the floats; NULL for NaN, text, bytes and DATETIME), value_text (every
// value as text: numbers exactly, 'NaN', '-0.0', BYTESTRING as hex,
// DATETIME as ISO 8601), quality (good, uncertain, bad), reason, code
// and detail.
package sqlitestore
