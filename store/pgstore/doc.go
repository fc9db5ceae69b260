// Package pgstore is the PostgreSQL store.Store, for the cloud side: many
// plants' samples, many tenants, one database.
//
//	s, err := pgstore.Open(ctx, pgstore.Config{
//		DSN:       "postgres://kiln@db.example:5432/kiln",
//		Retention: 90 * 24 * time.Hour,
//	})
//	if err != nil { ... }
//	defer s.Close()
//	go s.Serve(ctx) // creates partitions ahead, drops expired ones
//	res, err := s.Write(ctx, "acme", samples)
//
// Schema. Open runs the versioned migrations (recorded in
// kiln_schema_migrations, serialised across processes by an advisory
// lock). Samples live in kiln_samples, range-partitioned by source time
// into PartitionPeriod-long partitions aligned to the Unix epoch; Open and
// Maintain create the current partition and PartitionsAhead more, and a
// write whose samples fall outside every partition creates the ones it
// needs first. Retention drops whole partitions once they are entirely
// older than Retention; samples older than that are not written.
//
// Writes. A batch is COPYed into the connection's temporary staging table
// and moved with INSERT … ON CONFLICT DO NOTHING on the primary key
// (tenant, tag, ts), in one transaction: duplicates from redelivery are
// skipped, nothing is half-committed when the connection drops, and a
// retry is safe. (COPY cannot go straight into the table: it cannot skip
// conflicts, and PostgreSQL refuses COPY FROM into a table whose
// row-level security applies.)
//
// Tenants. Every transaction sets kiln.tenant with set_config(…, true),
// and row-level security, FORCEd so it binds the owning role too and
// enabled on each partition as well as on the parent, lets it see and
// write only rows of that tenant. Open refuses a role that is a superuser
// or has BYPASSRLS, since such a role is above the policies.
package pgstore
