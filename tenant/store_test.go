package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/store/storetest"
)

const scopedRegistry = `tenants:
  - id: acme
    quotas: {samples_per_second: 100, tags: 3, writes_per_minute: 600}
  - id: globex
`

// scopedStoreSuite runs the scoped-store checks against one backend.
func scopedStoreSuite(t *testing.T, s store.Store) {
	clk := clock.NewFake(storetest.T0)
	r := mustParse(t, scopedRegistry, WithClock(clk))
	acme := NewStore(mustTenant(t, r, "acme"), s)
	globex := NewStore(mustTenant(t, r, "globex"), s)
	ctx := context.Background()

	if res, err := acme.Write(ctx, storetest.Samples(30, 3)); err != nil || res.Inserted != 30 {
		t.Fatalf("acme write: %+v, %v", res, err)
	}
	if res, err := globex.Write(ctx, storetest.Samples(500, 50)); err != nil || res.Inserted != 500 {
		t.Fatalf("globex write (no quotas): %+v, %v", res, err)
	}
	// Each scoped store sees its own tenant only.
	for _, c := range []struct {
		s    *Store
		tags int
	}{{acme, 3}, {globex, 50}} {
		tags, err := c.s.Tags(ctx)
		if err != nil || len(tags) != c.tags {
			t.Fatalf("%s tags: %d, %v; want %d", c.s.Tenant().ID(), len(tags), err, c.tags)
		}
		latest, err := c.s.Latest(ctx)
		if err != nil || len(latest) != c.tags {
			t.Fatalf("%s latest: %d, %v; want %d", c.s.Tenant().ID(), len(latest), err, c.tags)
		}
	}
	got, err := acme.Range(ctx, "tag40", storetest.T0, storetest.T0.Add(time.Hour), 100)
	if err != nil || len(got) != 0 {
		t.Fatalf("acme reads globex's tag40: %v, %v", got, err)
	}

	// A fourth tag is over acme's tags quota; nothing is written.
	var qe *QuotaError
	extra := []plc.Sample{{Tag: "tag0", Value: plc.BoolValue(true), Quality: plc.Good, Time: storetest.T0.Add(time.Hour)},
		{Tag: "new", Value: plc.BoolValue(true), Quality: plc.Good, Time: storetest.T0.Add(time.Hour)}}
	if _, err := acme.Write(ctx, extra); !errors.As(err, &qe) || qe.Quota != "tags" {
		t.Fatalf("fourth tag: %v, want a tags QuotaError", err)
	}
	if _, err := acme.WriteBatches(ctx, []store.Batch{{Source: "gw", Seq: 1, Samples: extra}}); !errors.As(err, &qe) || qe.Quota != "tags" {
		t.Fatalf("fourth tag in a batch: %v, want a tags QuotaError", err)
	}
	if got, _ := acme.Range(ctx, "tag0", storetest.T0.Add(time.Hour), storetest.T0.Add(2*time.Hour), 10); len(got) != 0 {
		t.Fatalf("refused batch wrote %v", got)
	}
	// 70 samples are left of this second's 100; 71 are refused until time passes.
	if _, err := acme.Write(ctx, storetest.Samples(71, 3)); !errors.As(err, &qe) || qe.Quota != "samples_per_second" {
		t.Fatalf("over the samples rate: %v", err)
	}
	clk.Advance(qe.RetryAfter)
	if res, err := acme.Write(ctx, storetest.Samples(71, 3)); err != nil || res.Duplicates != 30 || res.Inserted != 41 {
		t.Fatalf("after RetryAfter: %+v, %v", res, err)
	}
}

func TestScopedStoreSQLite(t *testing.T) {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scopedStoreSuite(t, s)
}

// TestScopedStorePostgres runs the scoped store as deployed: a role that
// only reads and inserts, next to a separate owner of the schema.
func TestScopedStorePostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	app := db.Name + "_app"
	if _, err := admin.Exec(ctx, "CREATE ROLE "+app+" LOGIN NOSUPERUSER NOBYPASSRLS"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(app)
	s, err := pgstore.Open(ctx, pgstore.Config{DSN: u.String(), OwnerDSN: db.DSN}, pgstore.WithClock(clock.NewFake(storetest.T0)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scopedStoreSuite(t, s)
}

// storeSpy records the tenant each call is made for.
type storeSpy struct {
	store.Store
	tenants []string
}

func (s *storeSpy) Write(ctx context.Context, tenant string, smp []plc.Sample) (store.WriteResult, error) {
	s.tenants = append(s.tenants, "write:"+tenant)
	return s.Store.Write(ctx, tenant, smp)
}

func (s *storeSpy) Latest(ctx context.Context, tenant string) ([]plc.Sample, error) {
	s.tenants = append(s.tenants, "latest:"+tenant)
	return s.Store.Latest(ctx, tenant)
}

func (s *storeSpy) Range(ctx context.Context, tenant, tag string, from, to time.Time, limit int) ([]plc.Sample, error) {
	s.tenants = append(s.tenants, "range:"+tenant)
	return s.Store.Range(ctx, tenant, tag, from, to, limit)
}

func (s *storeSpy) Tags(ctx context.Context, tenant string) ([]string, error) {
	s.tenants = append(s.tenants, "tags:"+tenant)
	return s.Store.Tags(ctx, tenant)
}

func TestScopedStoreAlwaysPassesItsTenant(t *testing.T) {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spy := &storeSpy{Store: s}
	r := mustParse(t, scopedRegistry)
	acme := NewStore(mustTenant(t, r, "acme"), spy)
	ctx := context.Background()
	if _, err := acme.Write(ctx, storetest.Samples(3, 3)); err != nil {
		t.Fatal(err)
	}
	var sink plc.Sink = acme
	if err := sink.WriteSamples(ctx, storetest.Samples(6, 3)); err != nil {
		t.Fatal(err)
	}
	_, _ = acme.Latest(ctx)
	_, _ = acme.Range(ctx, "tag0", storetest.T0, storetest.T0.Add(time.Hour), 10)
	_, _ = acme.Tags(ctx)
	if got := fmt.Sprint(spy.tenants); got != "[tags:acme write:acme write:acme latest:acme range:acme tags:acme]" {
		t.Fatalf("calls: %s", got)
	}
}
