package pgstore

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/codec"
	"github.com/kiln-iot/kiln/store/storetest"
)

// schemaV1 is the schema as the first released version created it,
// kept here verbatim (constants spelled out) so the upgrade is tested
// against what is in the field, not against today's migration list.
const schemaV1 = `CREATE TABLE kiln_schema_migrations (
	version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO kiln_schema_migrations (version) VALUES (1);
CREATE TABLE kiln_samples (
		tenant   text NOT NULL CHECK (tenant <> ''),
		tag      text NOT NULL,
		ts       timestamptz NOT NULL,
		kind     smallint NOT NULL,
		ival     bigint,           -- BOOL 0/1, integers (unsigned as two's complement), DATETIME Unix ns
		fval     double precision, -- REAL, LREAL
		sval     bytea,            -- STRING, BYTESTRING
		q_status smallint NOT NULL,
		q_reason smallint NOT NULL,
		q_code   bigint NOT NULL,
		q_detail text NOT NULL,
		PRIMARY KEY (tenant, tag, ts)
	) PARTITION BY RANGE (ts);
	ALTER TABLE kiln_samples ENABLE ROW LEVEL SECURITY;
	ALTER TABLE kiln_samples FORCE ROW LEVEL SECURITY;
	CREATE POLICY kiln_tenant ON kiln_samples USING (tenant = current_setting('kiln.tenant', true)) WITH CHECK (tenant = current_setting('kiln.tenant', true));

	CREATE TABLE kiln_tags (
		tenant text NOT NULL CHECK (tenant <> ''),
		tag    text NOT NULL,
		PRIMARY KEY (tenant, tag)
	);
	ALTER TABLE kiln_tags ENABLE ROW LEVEL SECURITY;
	ALTER TABLE kiln_tags FORCE ROW LEVEL SECURITY;
	CREATE POLICY kiln_tenant ON kiln_tags USING (tenant = current_setting('kiln.tenant', true)) WITH CHECK (tenant = current_setting('kiln.tenant', true));

	CREATE TABLE kiln_partitions (
		name text PRIMARY KEY,
		lo   timestamptz NOT NULL,
		hi   timestamptz NOT NULL
	);

	-- kiln_ensure_partition returns the partition holding t, creating it
	-- (aligned to period_s seconds since the epoch, clipped to its
	-- neighbours) with its own forced row-level security, since policies
	-- of the parent do not guard a partition queried directly.
	CREATE FUNCTION kiln_ensure_partition(t timestamptz, period_s bigint, OUT p_lo timestamptz, OUT p_hi timestamptz)
	LANGUAGE plpgsql AS $$
	DECLARE
		x timestamptz;
		pname text;
	BEGIN
		SELECT p.lo, p.hi INTO p_lo, p_hi FROM kiln_partitions p WHERE p.lo <= t AND t < p.hi;
		IF FOUND THEN RETURN; END IF;
		PERFORM pg_advisory_xact_lock(118100534886402);
		SELECT p.lo, p.hi INTO p_lo, p_hi FROM kiln_partitions p WHERE p.lo <= t AND t < p.hi;
		IF FOUND THEN RETURN; END IF;
		p_lo := to_timestamp((floor(extract(epoch FROM t) / period_s) * period_s)::float8);
		p_hi := p_lo + make_interval(secs => period_s);
		SELECT max(p.hi) INTO x FROM kiln_partitions p WHERE p.hi > p_lo AND p.hi <= t;
		IF x IS NOT NULL THEN p_lo := x; END IF;
		SELECT min(p.lo) INTO x FROM kiln_partitions p WHERE p.lo < p_hi AND p.lo > t;
		IF x IS NOT NULL THEN p_hi := x; END IF;
		pname := 'kiln_samples_' || to_char(p_lo AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS');
		EXECUTE format('CREATE TABLE %I PARTITION OF kiln_samples FOR VALUES FROM (%L) TO (%L)', pname, p_lo, p_hi);
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', pname);
		EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', pname);
		EXECUTE format('CREATE POLICY kiln_tenant ON %I USING (%s) WITH CHECK (%s)', pname,
			$q$tenant = current_setting('kiln.tenant', true)$q$, $q$tenant = current_setting('kiln.tenant', true)$q$);
		INSERT INTO kiln_partitions VALUES (pname, p_lo, p_hi);
	END $$;`

// oldValues are values of every kind.
var oldValues = []plc.Value{
	plc.BoolValue(true), plc.IntValue(plc.LInt, math.MinInt64), plc.UintValue(plc.ULInt, math.MaxUint64),
	plc.FloatValue(plc.Real, 0.1), plc.FloatValue(plc.LReal, math.NaN()), plc.FloatValue(plc.LReal, math.Copysign(0, -1)),
	plc.FloatValue(plc.LReal, -1234.5), plc.StringValue("Grüße"), plc.BytesValue([]byte{0, 0xff}),
	plc.TimeValue(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)), {},
}

// fillV1 writes samples of two tenants as version 1 of pgstore did.
func fillV1(t *testing.T, db pgtest.DB) []plc.Sample {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, db.DSN)
	if _, err := conn.Exec(ctx, schemaV1); err != nil {
		t.Fatal(err)
	}
	var in []plc.Sample
	for i, v := range oldValues {
		smp := plc.Sample{Tag: fmt.Sprintf("t%d", i%3), Value: v, Quality: plc.Good, Time: storetest.T0.Add(time.Duration(i) * time.Second)}
		if i == 4 {
			smp.Quality = plc.Bad(plc.ReasonDeviceError, "object does not exist")
		}
		in = append(in, smp)
	}
	for _, tenant := range []string{"acme", "globex"} {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', $1, true), kiln_ensure_partition($2, 86400)", tenant, storetest.T0); err != nil {
				return err
			}
			for _, smp := range in {
				kind, num, str, isStr := codec.Split(smp.Value)
				var ival, fval, sval any
				switch {
				case isStr:
					sval = []byte(str)
				case codec.IsFloat(kind):
					fval = codec.Float(num)
				case codec.HasNum(kind):
					ival = num
				}
				q := smp.Quality
				if _, err := tx.Exec(ctx, `INSERT INTO kiln_samples VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
					tenant, smp.Tag, smp.Time, kind, ival, fval, sval, int16(q.Status), int16(q.Reason), int64(q.Code), q.Detail); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO kiln_tags VALUES ($1, $2) ON CONFLICT DO NOTHING`, tenant, smp.Tag); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return in
}

func TestUpgradeFromVersion1KeepsEverySample(t *testing.T) {
	db := pgtest.NewDB(t)
	in := fillV1(t, db)
	s := open(t, Config{DSN: appRole(t, db), OwnerDSN: db.DSN}, WithClock(clock.NewFake(storetest.T0)))
	ctx := context.Background()
	var version int
	if err := connect(t, db.DSN).QueryRow(ctx, "SELECT max(version) FROM kiln_schema_migrations").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	for _, tenant := range []string{"acme", "globex"} {
		n := 0
		for tag := range 3 {
			got, err := s.Range(ctx, tenant, fmt.Sprintf("t%d", tag), storetest.T0, storetest.T0.Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				w := in[int(g.Time.Sub(storetest.T0)/time.Second)]
				kind, num, str, _ := codec.Split(w.Value)
				gk, gn, gs, _ := codec.Split(g.Value)
				if g.Tag != w.Tag || gk != kind || gn != num || gs != str || g.Quality != w.Quality {
					t.Errorf("%s %s at %v: read %s %v %v, wrote %s %v %v", tenant, w.Tag, w.Time, g.Value.Kind(), g.Value, g.Quality, w.Value.Kind(), w.Value, w.Quality)
				}
				n++
			}
		}
		if n != len(in) {
			t.Fatalf("%s: read back %d samples, want %d", tenant, n, len(in))
		}
	}
	// The upgraded store writes batches next to the old rows.
	res, err := s.WriteBatches(ctx, "acme", []store.Batch{{Source: "gw", Seq: 1, Samples: []plc.Sample{
		{Tag: "t0", Value: plc.FloatValue(plc.LReal, 2.5), Quality: plc.Good, Time: storetest.T0.Add(time.Minute)},
		in[0], // already stored by the old version
	}}})
	if err != nil || res.Inserted != 1 || res.Duplicates != 1 {
		t.Fatalf("batch after the upgrade: %+v, %v; want 1 inserted, 1 duplicate", res, err)
	}
	latest, err := s.LatestOf(ctx, "acme", []string{"t0"})
	if err != nil || len(latest) != 1 || latest[0].Value.Float() != 2.5 {
		t.Fatalf("latest of t0 after the upgrade: %v, %v", latest, err)
	}
}

func TestDecodedViewShowsValuesAsTextAndOnlyTheTenantsRows(t *testing.T) {
	db := pgtest.NewDB(t)
	cfg := Config{DSN: appRole(t, db), OwnerDSN: db.DSN}
	s := open(t, cfg, WithClock(clock.NewFake(storetest.T0)))
	ctx := context.Background()
	var in []plc.Sample
	for i, v := range oldValues {
		in = append(in, plc.Sample{Tag: "v", Value: v, Quality: plc.Good, Time: storetest.T0.Add(time.Duration(i)*time.Second + 1500*time.Microsecond)})
	}
	in[4].Quality = plc.Bad(plc.ReasonCommFailure, "timeout")
	if _, err := s.Write(ctx, "acme", in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "globex", in[:3]); err != nil {
		t.Fatal(err)
	}
	app := connect(t, cfg.DSN) // the app role, as an engineer's psql would connect
	var got []string
	err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', 'acme', true)"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT tenant, to_char(time AT TIME ZONE 'UTC', 'HH24:MI:SS.US'), kind, value_text, value_number, quality, reason, detail
			FROM kiln_samples_view ORDER BY time`)
		if err != nil {
			return err
		}
		var tenant, tm string
		var kind, text *string
		var number *float64
		var quality, reason, detail string
		_, err = pgx.ForEachRow(rows, []any{&tenant, &tm, &kind, &text, &number, &quality, &reason, &detail}, func() error {
			str := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			num := "NULL"
			if number != nil {
				num = fmt.Sprint(*number)
			}
			got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s", tenant, tm, str(kind), str(text), num, quality, reason, detail))
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"acme|08:00:00.001500|BOOL|true|1|good|none|",
		"acme|08:00:01.001500|LINT|-9223372036854775808|-9.223372036854776e+18|good|none|",
		"acme|08:00:02.001500|ULINT|18446744073709551615|1.8446744073709552e+19|good|none|",
		"acme|08:00:03.001500|REAL|0.10000000149011612|0.10000000149011612|good|none|",
		"acme|08:00:04.001500|LREAL|NaN|NaN|bad|comm failure|timeout",
		"acme|08:00:05.001500|LREAL|-0|-0|good|none|",
		"acme|08:00:06.001500|LREAL|-1234.5|-1234.5|good|none|",
		"acme|08:00:07.001500|STRING|Grüße|NULL|good|none|",
		"acme|08:00:08.001500|BYTESTRING|00ff|NULL|good|none|",
		"acme|08:00:09.001500|DATETIME|2026-11-25T10:00:00.123456789Z|NULL|good|none|",
		"acme|08:00:10.001500|||NULL|good|none|",
	}
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("row %d:\n got %s\nwant %s", i, g, w)
		}
	}
	// Without a tenant the view shows nothing; naming another tenant
	// does not help.
	for _, sql := range []string{"SELECT count(*) FROM kiln_samples_view", "SELECT count(*) FROM kiln_samples_view WHERE tenant = 'globex'"} {
		var n int
		err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', 'initech', true)"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, sql).Scan(&n)
		})
		if err != nil || n != 0 {
			t.Errorf("%s as another tenant: %d rows, %v; want 0", sql, n, err)
		}
	}
}
