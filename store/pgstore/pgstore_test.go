package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/metrictest"
	"github.com/kiln-iot/kiln/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

var day = 24 * time.Hour

func open(t *testing.T, cfg Config, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A fake clock near the samples' times keeps partitions few.
		return open(t, Config{DSN: pgtest.NewDB(t).DSN}, WithClock(clock.NewFake(storetest.T0)))
	})
}

func TestSuperuserIsRefused(t *testing.T) {
	db := pgtest.NewDB(t)
	_, err := Open(context.Background(), Config{DSN: db.AdminDSN})
	if !errors.Is(err, store.ErrBypassesRLS) {
		t.Fatalf("Open as superuser: %v, want ErrBypassesRLS", err)
	}
}

func TestOwnerMustBeAnotherRole(t *testing.T) {
	db := pgtest.NewDB(t)
	_, err := Open(context.Background(), Config{DSN: db.DSN, OwnerDSN: db.DSN})
	if err == nil || !strings.Contains(err.Error(), "Config.OwnerDSN") {
		t.Fatalf("Open with OwnerDSN = DSN: %v, want an error naming Config.OwnerDSN", err)
	}
	// A superuser app role is refused even with a separate owner.
	_, err = Open(context.Background(), Config{DSN: db.AdminDSN, OwnerDSN: db.DSN})
	if !errors.Is(err, store.ErrBypassesRLS) {
		t.Fatalf("Open as superuser with an owner: %v, want ErrBypassesRLS", err)
	}
}

func TestReplicasOpeningAtOnceWithAnOwner(t *testing.T) {
	db := pgtest.NewDB(t)
	cfg := Config{DSN: appRole(t, db), OwnerDSN: db.DSN}
	errs := make(chan error, 3)
	for i := 0; i < cap(errs); i++ {
		go func() {
			s, err := Open(context.Background(), cfg, WithClock(clock.NewFake(storetest.T0)))
			if err == nil {
				_, err = s.Write(context.Background(), "acme", storetest.Samples(100, 10))
				_ = s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Errorf("replica: %v", err)
		}
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	db := pgtest.NewDB(t)
	clk := clock.NewFake(storetest.T0)
	a := open(t, Config{DSN: db.DSN}, WithClock(clk))
	b := open(t, Config{DSN: db.DSN}, WithClock(clk))
	if _, err := a.Write(context.Background(), "acme", storetest.Samples(10, 2)); err != nil {
		t.Fatal(err)
	}
	res, err := b.Write(context.Background(), "acme", storetest.Samples(10, 2))
	if err != nil || res.Duplicates != 10 {
		t.Fatalf("second store: %+v, %v", res, err)
	}
	var versions int
	if err := connect(t, db.DSN).QueryRow(context.Background(), "SELECT count(*) FROM kiln_schema_migrations").Scan(&versions); err != nil || versions != len(migrations) {
		t.Fatalf("%d migrations recorded, %v; want %d", versions, err, len(migrations))
	}
}

// appRole creates a login role without privileges in db's cluster and
// returns a DSN connecting to db as it.
func appRole(t *testing.T, db pgtest.DB) string {
	t.Helper()
	name := db.Name + "_app"
	if _, err := connect(t, db.AdminDSN).Exec(context.Background(), "CREATE ROLE "+name+" LOGIN NOSUPERUSER NOBYPASSRLS"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(name)
	return u.String()
}

// TestRowLevelSecurity connects as the role the store reads and writes
// with, as code with a bug would, and tries to reach another tenant's
// rows: once with that role owning the tables, once with a separate owner
// (Config.OwnerDSN), where the role also cannot turn the protection off.
func TestRowLevelSecurity(t *testing.T) {
	t.Run("owning role", func(t *testing.T) {
		db := pgtest.NewDB(t)
		testRowLevelSecurity(t, Config{DSN: db.DSN}, false)
	})
	t.Run("app role with separate owner", func(t *testing.T) {
		db := pgtest.NewDB(t)
		testRowLevelSecurity(t, Config{DSN: appRole(t, db), OwnerDSN: db.DSN}, true)
	})
}

func testRowLevelSecurity(t *testing.T, cfg Config, separateOwner bool) {
	ctx := context.Background()
	s := open(t, cfg, WithClock(clock.NewFake(storetest.T0)))
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := s.WriteBatches(ctx, tenant, storetest.Batches(storetest.Samples(40, 4), 10, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	parts, err := s.Partitions(ctx)
	if err != nil || len(parts) == 0 {
		t.Fatalf("partitions: %v, %v", parts, err)
	}
	conn := connect(t, cfg.DSN)
	countAs := func(tenant, sql string) int {
		t.Helper()
		var n int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if tenant != "" {
				if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', $1, true)", tenant); err != nil {
					return err
				}
			}
			return tx.QueryRow(ctx, sql).Scan(&n)
		})
		if err != nil {
			t.Fatalf("%s as %q: %v", sql, tenant, err)
		}
		return n
	}
	refusedAs := func(tenant, sql string) {
		t.Helper()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', $1, true)", tenant); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql)
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as %q: %v, want a row-level security or privilege violation (42501)", sql, tenant, err)
		}
	}
	part := pgx.Identifier{parts[0].Name}.Sanitize()
	ts := "'" + storetest.T0.Format(time.RFC3339) + "'"
	if separateOwner {
		// The app role may not lift the protection, touch the schema,
		// delete, or go round the parent's policy through a partition.
		for _, sql := range []string{
			"ALTER TABLE kiln_samples DISABLE ROW LEVEL SECURITY",
			"ALTER TABLE kiln_samples NO FORCE ROW LEVEL SECURITY",
			"ALTER TABLE " + part + " DISABLE ROW LEVEL SECURITY",
			"ALTER TABLE kiln_tags DISABLE ROW LEVEL SECURITY",
			"DROP POLICY kiln_tenant ON kiln_samples",
			"CREATE POLICY kiln_all ON kiln_samples USING (true)",
			"DROP TABLE " + part,
			"DELETE FROM kiln_samples",
			"TRUNCATE kiln_samples",
			"UPDATE kiln_samples SET q_detail = 'x'",
			"SELECT count(*) FROM " + part,
			"INSERT INTO " + part + " VALUES ('acme', 'x', " + ts + ", 1, 1, NULL, NULL, 2, 1, 0, '')",
			"DELETE FROM kiln_partitions",
			"DELETE FROM kiln_batches",
			"UPDATE kiln_batches SET seq = 0",
			"SELECT kiln_ensure_partition(now() + interval '400 days', 86400)",
		} {
			refusedAs("acme", sql)
		}
	} else {
		if n := countAs("acme", "SELECT count(*) FROM "+part+" WHERE tenant = 'globex'"); n != 0 {
			t.Errorf("acme sees %d of globex's rows through partition %s", n, part)
		}
		if n := countAs("", "SELECT count(*) FROM "+part); n != 0 {
			t.Errorf("without a tenant the role sees %d rows through partition %s", n, part)
		}
		if n := countAs("acme", "WITH d AS (DELETE FROM kiln_samples WHERE tenant = 'globex' RETURNING 1) SELECT count(*) FROM d"); n != 0 {
			t.Errorf("acme deleted %d of globex's rows", n)
		}
		refusedAs("acme", "INSERT INTO "+part+" VALUES ('globex', 'x', "+ts+", 1, 1, NULL, NULL, 2, 1, 0, '')")
	}

	if n := countAs("", "SELECT count(*) FROM kiln_samples"); n != 0 {
		t.Errorf("without a tenant the role sees %d rows, want 0", n)
	}
	if n := countAs("acme", "SELECT count(*) FROM kiln_samples"); n != 40 {
		t.Errorf("acme sees %d rows, want its 40", n)
	}
	if n := countAs("acme", "SELECT count(*) FROM kiln_samples WHERE tenant = 'globex'"); n != 0 {
		t.Errorf("acme sees %d of globex's rows", n)
	}
	if n := countAs("acme", "SELECT count(*) FROM kiln_tags WHERE tenant = 'globex'"); n != 0 {
		t.Errorf("acme sees %d of globex's tags", n)
	}
	if n := countAs("acme", "SELECT count(*) FROM kiln_batches"); n != 4 {
		t.Errorf("acme sees %d batch records, want its 4", n)
	}
	if n := countAs("", "SELECT count(*) FROM kiln_batches"); n != 0 {
		t.Errorf("without a tenant the role sees %d batch records", n)
	}
	// A record forged for another tenant would make its next batch be
	// skipped: refused.
	refusedAs("acme", "INSERT INTO kiln_batches VALUES ('globex', 'gw-1', 1, 99, 1, now())")
	refusedAs("acme", "INSERT INTO kiln_samples VALUES ('globex', 'x', "+ts+", 1, 1, NULL, NULL, 2, 1, 0, '')")
	refusedAs("acme", "UPDATE kiln_samples SET tenant = 'globex' WHERE tenant = 'acme'")
	refusedAs("acme", "INSERT INTO kiln_tags VALUES ('globex', 'x')")
	refusedAs("", "INSERT INTO kiln_samples VALUES ('globex', 'x', "+ts+", 1, 1, NULL, NULL, 2, 1, 0, '')")

	// COPY cannot bypass the policies either.
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"kiln_samples"}, []string{"tenant", "tag", "ts", "kind", "q_status", "q_reason", "q_code", "q_detail"},
		pgx.CopyFromRows([][]any{{"globex", "y", storetest.T0, int16(0), int16(0), int16(0), int64(0), ""}}))
	if err == nil {
		t.Error("COPY into the samples table succeeded under row-level security")
	}

	// globex's data is untouched.
	got, err := s.Range(ctx, "globex", "tag0", storetest.T0, storetest.T0.Add(time.Hour), 100)
	if err != nil || len(got) != 10 {
		t.Fatalf("globex's tag0 after the attempts: %d samples, %v; want 10", len(got), err)
	}
}

// roles are the two ways to run the store: one role doing everything, or
// an app role next to a separate owner.
var roles = []struct {
	name string
	cfg  func(*testing.T, pgtest.DB) Config
}{
	{"one role", func(_ *testing.T, db pgtest.DB) Config { return Config{DSN: db.DSN} }},
	{"app and owner roles", func(t *testing.T, db pgtest.DB) Config { return Config{DSN: appRole(t, db), OwnerDSN: db.DSN} }},
}

func TestConnectionLossMidWriteLeavesNothingAndRetrySucceeds(t *testing.T) {
	for _, r := range roles {
		for _, stage := range []string{"copied", "inserted"} {
			t.Run(r.name+"/after "+stage, func(t *testing.T) { testConnectionLoss(t, r.cfg, stage) })
		}
	}
}

func testConnectionLoss(t *testing.T, config func(*testing.T, pgtest.DB) Config, stage string) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := open(t, config(t, db), WithClock(clock.NewFake(storetest.T0)))
	admin := connect(t, db.AdminDSN)
	killed := 0
	s.hook = func(at string, pid uint32) {
		if at != stage || killed > 0 {
			return
		}
		killed++
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(pid)); err != nil {
			t.Errorf("terminate backend %d: %v", pid, err)
		}
		// Wait until the backend is gone, so the write's next
		// statement meets a dead connection.
		for {
			var n int
			if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&n); err != nil || n == 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Batches with identities: their records die with the transaction,
	// so the retry of the same batches writes them.
	batch := storetest.Batches(storetest.Samples(5000, 50), 1000, 9, 1)
	if _, err := s.WriteBatches(ctx, "acme", batch); err == nil {
		t.Fatal("write whose connection was terminated succeeded")
	}
	if killed != 1 {
		t.Fatalf("hook ran %d times", killed)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM kiln_samples) + (SELECT count(*) FROM kiln_batches)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows and batch records left by the failed write, %v; want 0", n, err)
	}
	res, err := s.WriteBatches(ctx, "acme", batch)
	if err != nil || res.Inserted != 5000 {
		t.Fatalf("retry: %+v, %v; want 5000 inserted", res, err)
	}
	tags, err := s.Tags(ctx, "acme")
	if err != nil || len(tags) != 50 {
		t.Fatalf("tags after retry: %d, %v; want 50", len(tags), err)
	}
}

func TestPartitionsAreCreatedAheadAndDroppedByRetention(t *testing.T) {
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) { testRetention(t, r.cfg) })
	}
}

func testRetention(t *testing.T, config func(*testing.T, pgtest.DB) Config) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	now := storetest.T0.Add(10 * day) // 2026-12-05 08:00
	clk := clock.NewFake(now)
	cfg := config(t, db)
	cfg.Retention = 7 * day
	s := open(t, cfg, WithClock(clk))
	parts, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || !parts[0].From.Equal(now.Truncate(day)) || !parts[2].To.Equal(now.Truncate(day).Add(3*day)) {
		t.Fatalf("after Open: %v; want today and 2 days ahead", parts)
	}
	at := func(d int, tag string) plc.Sample {
		return plc.Sample{Tag: tag, Value: plc.IntValue(plc.DInt, int64(d)), Quality: plc.Good, Time: storetest.T0.Add(time.Duration(d) * day)}
	}
	// Horizon: day 3; days 0 and 2 are expired.
	res, err := s.Write(ctx, "acme", []plc.Sample{at(0, "a"), at(2, "a"), at(4, "a"), at(9, "a"), at(1, "b")})
	if err != nil || res.Inserted != 2 || res.Expired != 3 {
		t.Fatalf("write: %+v, %v; want 2 inserted, 3 expired", res, err)
	}
	clk.Advance(3 * day) // horizon: day 6
	dropped, err := s.Maintain(ctx)
	if err != nil || len(dropped) != 1 || dropped[0] != "kiln_samples_20261129t000000" {
		t.Fatalf("Maintain dropped %v, %v; want day 4's partition", dropped, err)
	}
	got, err := s.Range(ctx, "acme", "a", storetest.T0, storetest.T0.Add(30*day), 10)
	if err != nil || len(got) != 1 || got[0].Value.String() != "9" {
		t.Fatalf("after retention: %v, %v; want day 9 only", got, err)
	}
	parts, err = s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := parts[len(parts)-1]; !last.To.Equal(clk.Now().Truncate(day).Add(3 * day)) {
		t.Fatalf("after Maintain the last partition ends %v, want 2 days ahead of %v", last.To, clk.Now())
	}
	if _, err := connect(t, db.AdminDSN).Exec(ctx, "SELECT 1 FROM kiln_samples_20261129t000000"); err == nil {
		t.Fatal("dropped partition still exists")
	}
	// Batch records go with the retention too: a batch redelivered after
	// its record was deleted holds only expired samples.
	b := storetest.Batches([]plc.Sample{at(12, "c"), at(13, "c")}, 2, 1, 1)
	if res, err := s.WriteBatches(ctx, "acme", b); err != nil || res.Inserted != 2 {
		t.Fatalf("batch of days 12 and 13: %+v, %v", res, err)
	}
	clk.Advance(8 * day) // horizon: day 14
	if _, err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	var records int
	if err := connect(t, db.AdminDSN).QueryRow(ctx, "SELECT count(*) FROM kiln_batches").Scan(&records); err != nil || records != 0 {
		t.Fatalf("%d batch records after retention, %v; want 0", records, err)
	}
	if res, err := s.WriteBatches(ctx, "acme", b); err != nil || res.Inserted != 0 || res.Expired != 2 {
		t.Fatalf("the batch redelivered after retention: %+v, %v; want 2 expired", res, err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	if n := metrictest.Value(t, reg, "kiln_store_retention_removed_total", "what", "batch_records"); n != 1 {
		t.Errorf("batch records removed: metric %v, want 1", n)
	}
	if n := metrictest.Value(t, reg, "kiln_store_maintenance_runs_total", "result", "ok"); n != 2 {
		t.Errorf("maintenance runs: metric %v, want 2", n)
	}
}

func TestPartitionPeriodChangeClipsToNeighbours(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	d := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	hourly := open(t, Config{DSN: db.DSN, PartitionPeriod: time.Hour, PartitionsAhead: 1}, WithClock(clock.NewFake(d.Add(5*time.Hour))))
	daily := open(t, Config{DSN: db.DSN, PartitionsAhead: 1}, WithClock(clock.NewFake(d.Add(30*day))))
	_ = hourly // created [05:00, 06:00) and [06:00, 07:00)
	for _, h := range []int{10, 2, 6} {
		smp := plc.Sample{Tag: "t", Value: plc.IntValue(plc.Int, int64(h)), Quality: plc.Good, Time: d.Add(time.Duration(h) * time.Hour)}
		if _, err := daily.Write(ctx, "acme", []plc.Sample{smp}); err != nil {
			t.Fatalf("write at %02d:00: %v", h, err)
		}
	}
	parts, err := daily.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range parts {
		if p.From.Before(d.Add(day)) {
			got = append(got, fmt.Sprintf("%s-%s", p.From.Format("15"), p.To.Format("15")))
		}
	}
	if fmt.Sprint(got) != "[00-05 05-06 06-07 07-00]" {
		t.Fatalf("partitions of the day: %v", got)
	}
	all, err := daily.Range(ctx, "acme", "t", d, d.Add(day), 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("read back %v, %v", all, err)
	}
}

func TestConfigValidateNamesEveryBadFieldByYAMLPath(t *testing.T) {
	cases := []struct {
		c     Config
		paths string
	}{
		{Config{}, "[dsn]"},
		{Config{DSN: "postgres://x/y", PartitionPeriod: time.Second}, "[partition_period]"},
		{Config{DSN: "postgres://x/y", PartitionPeriod: 90500 * time.Millisecond}, "[partition_period]"},
		{Config{DSN: "postgres://x:notaport/y", OwnerDSN: "postgres://x:notaport/y"}, "[dsn owner_dsn]"},
		{Config{DSN: "postgres://x/y", PartitionsAhead: -1, Retention: -1, MaintenanceInterval: -1, MaxConns: -1},
			"[partitions_ahead retention maintenance_interval max_conns]"},
	}
	for _, tc := range cases {
		err := tc.c.Validate()
		var paths []string
		for _, fe := range config.List(err) {
			paths = append(paths, fe.Path)
		}
		if fmt.Sprint(paths) != tc.paths || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v; want problems at %s", tc.c, err, tc.paths)
		}
	}
	if err := (Config{DSN: "postgres://u@127.0.0.1/db"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestServeMaintainsUntilCancelled(t *testing.T) {
	db := pgtest.NewDB(t)
	clk := clock.NewFake(storetest.T0)
	s := open(t, Config{DSN: db.DSN, Retention: day, MaintenanceInterval: time.Hour}, WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	clk.BlockUntil(1)
	clk.Advance(3 * day) // today's partition expires; new ones are due ahead
	want := clk.Now().Truncate(day)
	deadline := time.Now().Add(20 * time.Second)
	for {
		parts, err := s.Partitions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) > 0 && parts[0].From.After(storetest.T0) && parts[len(parts)-1].To.Equal(want.Add(3*day)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve did not maintain partitions: %v", parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
}

func TestTenantsWritingConcurrentlyStayApart(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	clk := clock.NewFake(storetest.T0)
	a := open(t, Config{DSN: db.DSN}, WithClock(clk))
	b := open(t, Config{DSN: db.DSN}, WithClock(clk))
	all := storetest.Samples(3000, 30)
	errs := make(chan error, 6)
	for _, w := range []struct {
		s      *Store
		tenant string
	}{{a, "acme"}, {b, "acme"}, {a, "globex"}, {b, "globex"}, {a, "initech"}, {b, "initech"}} {
		go func() {
			for i := 0; i < len(all); i += 500 {
				if _, err := w.s.Write(ctx, w.tenant, all[i:i+500]); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 6; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rows, err := connect(t, db.AdminDSN).Query(ctx, "SELECT tenant, count(*), count(DISTINCT (tag, ts)) FROM kiln_samples GROUP BY tenant ORDER BY tenant")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var tenant string
		var n, distinct int
		if err := rows.Scan(&tenant, &n, &distinct); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d/%d", tenant, n, distinct))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[acme:3000/3000 globex:3000/3000 initech:3000/3000]" {
		t.Fatalf("rows per tenant: %v", got)
	}
}
