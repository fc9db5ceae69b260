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
// Writes. WriteBatches first inserts the identities (source, epoch, seq)
// of its batches into kiln_batches (INSERT … ON CONFLICT DO NOTHING
// RETURNING, one small index entry per batch): those returned are new,
// the others were committed before and are skipped whole; an identity
// that another writer's open transaction holds waits for that
// transaction and is skipped if it commits. The samples of the new
// batches are COPYed into the connection's temporary staging table (made
// once per connection, emptied at every commit) and moved with a plain
// INSERT inside a savepoint; only if that meets a unique violation
// (23505) does it go back to the savepoint and use INSERT … ON CONFLICT DO
// NOTHING on the primary key (tenant, tag, ts), whose column order also
// serves per-tag range reads. All of it is one transaction: a batch is
// recorded if and only if its rows are committed, nothing is
// half-committed when the connection drops, and a retry is safe. (COPY
// cannot go straight into the table: it cannot skip conflicts, and
// PostgreSQL refuses COPY FROM into a table whose row-level security
// applies.)
//
// The view kiln_samples_view decodes the samples for people, under the
// same row-level security (it is a security_invoker view):
//
//	$ psql "$DSN" -c "SET kiln.tenant = 'acme'" -c "SELECT time, tag, kind, value_text, value_number, quality, reason, detail
//	      FROM kiln_samples_view WHERE tag = 'Line1.Temp' AND time > now() - interval '1 hour' ORDER BY time"
//
// Its columns: tenant, tag, time (timestamptz), kind (BOOL, INT, LREAL,
// …), value_number (float8 for BOOL, the integer kinds and the floats,
// NaN included; NULL for text, bytes and DATETIME), value_text (every
// value as text: 64-bit integers exactly, unsigned ones too, BYTESTRING
// as hex, DATETIME as ISO 8601 with nanoseconds), quality (good,
// uncertain, bad), reason, code and detail. Filter on tag and time: they
// reach the table's key.
//
// Upgrades. A database made by an older version is migrated in place on
// Open: version 2 adds kiln_batches, version 3 the view; the samples are
// not rewritten.
//
// High availability. DSN may name several hosts, as libpq and pgx accept
// them; with target_session_attrs=read-write the pool connects to
// whichever of them is the primary:
//
//	postgres://kiln_app@db-a:5432,db-b:5432/kiln?target_session_attrs=read-write
//
// Run the standby with synchronous replication (synchronous_commit on,
// synchronous_standby_names naming it) so a commit the store reports is
// on both servers. When the primary dies, writes fail until the standby
// is promoted (by an operator, Patroni or the like); connections then go
// to it, and the caller's retry (the ingestor retries with backoff, its
// messages unacknowledged) writes the batches again: those whose commit
// reached the standby before the crash are skipped by their batch
// identity, the others are written, so nothing is lost or stored twice.
// Tested with a real primary and standby (pg_basebackup, crash
// mid-transaction, promote).
//
// Outgrowing one server. One PostgreSQL primary takes every tenant's
// writes; when that is not enough, the schema is ready to be split by
// tenant, since every table's rows and every query carry the tenant and
// no query crosses tenants:
//
//   - partition per tenant: make kiln_samples LIST-partitioned by tenant,
//     each tenant's partition RANGE-partitioned by time as today, so a
//     large tenant's data, vacuum and retention are its own and can move
//     to its own tablespace;
//   - distribute by tenant (Citus or a similar extension): declare
//     kiln_samples, kiln_tags and kiln_batches distributed on tenant and
//     co-located, so a write transaction (one tenant's batch records,
//     rows and tags) and every query run on one worker node; the
//     coordinator only routes;
//   - or, simplest, shard by tenant across independent databases: give
//     each ingestor replica set its tenants' DSN; nothing in the store
//     assumes one database holds all tenants.
//
// Tenants. Every transaction sets kiln.tenant with set_config(…, true),
// and row-level security, FORCEd so it binds the owning role too and
// enabled on each partition as well as on the parent, lets it see and
// write only rows of that tenant. Open refuses a role that is a superuser
// or has BYPASSRLS, since such a role is above the policies.
//
// Roles. With only DSN, its role owns the tables; FORCE binds it to the
// policies, but as owner it could ALTER TABLE … DISABLE ROW LEVEL
// SECURITY. Set OwnerDSN to a second role and that role owns the schema:
// it migrates, creates and drops partitions, and grants DSN's role only
// SELECT and INSERT on kiln_samples and kiln_tags. The app role then
// cannot disable or drop the policies, alter, truncate or drop tables,
// update or delete rows, or query a partition directly. Besides what the
// owner grants it needs CONNECT and TEMPORARY on the database (PUBLIC has
// both by default) for its per-connection staging table:
//
//	CREATE ROLE kiln_owner LOGIN;                 -- owns the database or its schema
//	CREATE ROLE kiln_app LOGIN NOBYPASSRLS;       -- nothing else granted
//
//	pgstore.Open(ctx, pgstore.Config{
//		DSN:      "postgres://kiln_app@db.example/kiln",
//		OwnerDSN: "postgres://kiln_owner@db.example/kiln",
//	})
package pgstore
