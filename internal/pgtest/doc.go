// Package pgtest starts throwaway PostgreSQL clusters for kiln's tests.
//
// A Cluster is a real PostgreSQL server: initdb in a temporary directory,
// listening on a random free port on 127.0.0.1 and on a unix socket in
// that directory, run with durability switched off for speed, stopped and
// removed by Stop. When the test binary runs as root, the server runs as
// the operating system user "postgres" (PostgreSQL refuses to run as root)
// on a directory that user owns.
//
// Most tests share one cluster per test binary and get a fresh database
// each, owned by a fresh non-superuser role:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
//
//	func TestSomething(t *testing.T) {
//		db := pgtest.NewDB(t) // skips, or fails with KILN_REQUIRE_POSTGRES=1, without PostgreSQL
//		conn, err := pgx.Connect(ctx, db.DSN)
//		...
//	}
//
// Wrap stops the shared cluster when the tests are done. Servers never
// outlive the test binary: each postmaster gets a parent-death signal
// (SIGQUIT, PostgreSQL's immediate shutdown) bound to a thread reserved
// for it, so a test binary that is killed takes its servers with it, and
// Start removes directories left behind by test binaries that died.
//
// For replication tests, StartStandby makes a streaming standby of a
// cluster (pg_basebackup -R), Crash kills a server and its backends at
// once, and Promote turns a standby into the primary:
//
//	primary, _ := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{
//		"synchronous_commit": "on", "synchronous_standby_names": "*"}})
//	standby, _ := primary.StartStandby(ctx, pgtest.Options{})
//	...
//	primary.Crash()
//	err := standby.Promote(ctx)
//
// The server binaries are looked up in $KILN_PG_BIN, then
// /usr/lib/postgresql/<newest>/bin, /usr/local/pgsql/bin and $PATH. When
// they are missing, NewDB skips the test, or fails it with installation
// instructions when KILN_REQUIRE_POSTGRES=1.
//
// The package runs on Linux only (parent-death signals, credentials of
// another user); on other systems it is empty, so that the library
// packages still build there.
package pgtest
