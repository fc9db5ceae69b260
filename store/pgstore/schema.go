package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/internal/codec"
)

// Advisory lock keys, so concurrent processes migrate and create or drop
// partitions one at a time.
const (
	migrateLock   int64 = 0x6b696c6e_0001 // "kiln" 1
	partitionLock int64 = 0x6b696c6e_0002
)

// tenantCheck is the row-level-security expression: a row belongs to the
// transaction's tenant, set with set_config('kiln.tenant', …, true).
// Without a tenant the setting is NULL or ” and matches nothing.
const tenantCheck = `tenant = current_setting('kiln.tenant', true)`

// migrations are applied in order, each in the migrating transaction;
// entry i is schema version i+1. Never edit an entry: append a new one.
var migrations = []string{
	// 1: samples partitioned by source time, tags, partition registry.
	`CREATE TABLE kiln_samples (
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
	CREATE POLICY kiln_tenant ON kiln_samples USING (` + tenantCheck + `) WITH CHECK (` + tenantCheck + `);

	CREATE TABLE kiln_tags (
		tenant text NOT NULL CHECK (tenant <> ''),
		tag    text NOT NULL,
		PRIMARY KEY (tenant, tag)
	);
	ALTER TABLE kiln_tags ENABLE ROW LEVEL SECURITY;
	ALTER TABLE kiln_tags FORCE ROW LEVEL SECURITY;
	CREATE POLICY kiln_tenant ON kiln_tags USING (` + tenantCheck + `) WITH CHECK (` + tenantCheck + `);

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
		PERFORM pg_advisory_xact_lock(` + fmt.Sprint(partitionLock) + `);
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
			$q$` + tenantCheck + `$q$, $q$` + tenantCheck + `$q$);
		INSERT INTO kiln_partitions VALUES (pname, p_lo, p_hi);
	END $$;`,
	// 2: the batches written, by identity, for exactly-once per batch.
	`CREATE TABLE kiln_batches (
		tenant    text NOT NULL CHECK (tenant <> ''),
		source    text NOT NULL,
		epoch     bigint NOT NULL, -- uint64 bits
		seq       bigint NOT NULL, -- uint64 bits
		samples   int NOT NULL,
		committed timestamptz NOT NULL,
		PRIMARY KEY (tenant, source, epoch, seq)
	);
	ALTER TABLE kiln_batches ENABLE ROW LEVEL SECURITY;
	ALTER TABLE kiln_batches FORCE ROW LEVEL SECURITY;
	CREATE POLICY kiln_tenant ON kiln_batches USING (` + tenantCheck + `) WITH CHECK (` + tenantCheck + `);
	-- Maintenance, as the owning role (the one migrating), deletes
	-- expired records of every tenant: it must see them to delete them.
	-- The policies name that role only; a separate app role has no DELETE
	-- privilege and still sees its tenant's records only.
	DO $$ BEGIN
		EXECUTE format('CREATE POLICY kiln_prune_select ON kiln_batches FOR SELECT TO %I USING (current_setting(''kiln.prune'', true) = ''on'')', current_user);
		EXECUTE format('CREATE POLICY kiln_prune_delete ON kiln_batches FOR DELETE TO %I USING (current_setting(''kiln.prune'', true) = ''on'')', current_user);
	END $$;`,
	// 3: the samples decoded for people. security_invoker: the caller's
	// row-level security applies, as on the table.
	`CREATE VIEW kiln_samples_view WITH (security_invoker = true) AS SELECT
		tenant, tag, ts AS time,
		` + codec.KindName("kind") + ` AS kind,
		CASE
			WHEN kind IN ` + codec.Kinds(plc.Kind.IsFloat) + ` THEN fval
			WHEN kind IN ` + codec.Kinds(plc.Kind.IsUnsigned) + ` AND ival < 0 THEN (ival::numeric + 18446744073709551616)::float8
			WHEN kind IN ` + codec.Kinds(func(k plc.Kind) bool { return k == plc.Bool || k.IsInteger() }) + ` THEN ival::float8
		END AS value_number,
		CASE
			WHEN kind = ` + fmt.Sprint(int(plc.String)) + ` THEN convert_from(sval, 'UTF8')
			WHEN kind = ` + fmt.Sprint(int(plc.ByteString)) + ` THEN encode(sval, 'hex')
			WHEN kind = ` + fmt.Sprint(int(plc.Bool)) + ` THEN (ival <> 0)::text
			WHEN kind = ` + fmt.Sprint(int(plc.DateTime)) + ` THEN to_char(to_timestamp(div(ival, 1000000000)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '.' || lpad(mod(ival, 1000000000)::text, 9, '0') || 'Z'
			WHEN kind IN ` + codec.Kinds(plc.Kind.IsFloat) + ` THEN fval::text
			WHEN kind IN ` + codec.Kinds(plc.Kind.IsUnsigned) + ` AND ival < 0 THEN (ival::numeric + 18446744073709551616)::text
			ELSE ival::text
		END AS value_text,
		` + codec.StatusName("q_status") + ` AS quality,
		` + codec.ReasonName("q_reason") + ` AS reason,
		q_code AS code, q_detail AS detail
	FROM kiln_samples;`,
}

// createStage makes the connection's staging table; ON COMMIT DELETE ROWS
// empties it at the end of every transaction.
const createStage = `CREATE TEMP TABLE kiln_stage (
	tag text, ts timestamptz, kind smallint, ival bigint, fval double precision, sval bytea,
	q_status smallint, q_reason smallint, q_code bigint, q_detail text
) ON COMMIT DELETE ROWS`

var stageColumns = []string{"tag", "ts", "kind", "ival", "fval", "sval", "q_status", "q_reason", "q_code", "q_detail"}

const (
	insertFromStage = `INSERT INTO kiln_samples (tenant, tag, ts, kind, ival, fval, sval, q_status, q_reason, q_code, q_detail)
		SELECT $1, tag, ts, kind, ival, fval, sval, q_status, q_reason, q_code, q_detail FROM kiln_stage`
	// recordBatches inserts the identities not yet recorded and returns
	// them; one recorded by a transaction still open waits for it.
	recordBatches = `INSERT INTO kiln_batches (tenant, source, epoch, seq, samples, committed)
		SELECT $1, b.* , $6 FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::int[]) b
		ON CONFLICT DO NOTHING RETURNING source, epoch, seq`
	insertTags = `INSERT INTO kiln_tags (tenant, tag) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`

	sampleColumns = `s.tag, s.ts, s.kind, s.ival, s.fval, s.sval, s.q_status, s.q_reason, s.q_code, s.q_detail`
	selectLatest  = `SELECT ` + sampleColumns + ` FROM kiln_tags t
		CROSS JOIN LATERAL (SELECT * FROM kiln_samples s WHERE s.tenant = t.tenant AND s.tag = t.tag ORDER BY s.ts DESC LIMIT 1) s
		WHERE t.tenant = $1 ORDER BY t.tag COLLATE "C"`
	selectLatestOf = `SELECT ` + sampleColumns + ` FROM (SELECT DISTINCT unnest($2::text[]) AS tag) t
		CROSS JOIN LATERAL (SELECT * FROM kiln_samples s WHERE s.tenant = $1 AND s.tag = t.tag ORDER BY s.ts DESC LIMIT 1) s
		ORDER BY t.tag COLLATE "C"`
	// Aggregate reads the last sample before the range, then the range
	// in time order.
	aggregateColumns = `s.kind, s.ival, s.fval, s.q_status, s.ts`
	selectPrior      = `SELECT ` + aggregateColumns + ` FROM kiln_samples s
		WHERE s.tenant = $1 AND s.tag = $2 AND s.ts < $3 ORDER BY s.ts DESC LIMIT 1`
	selectAggregate = `SELECT ` + aggregateColumns + ` FROM kiln_samples s
		WHERE s.tenant = $1 AND s.tag = $2 AND s.ts >= $3 AND s.ts < $4 ORDER BY s.ts`
	selectRange = `SELECT ` + sampleColumns + ` FROM kiln_samples s
		WHERE s.tenant = $1 AND s.tag = $2 AND s.ts >= $3 AND s.ts < $4 ORDER BY s.ts LIMIT $5`
	selectTags = `SELECT tag FROM kiln_tags t WHERE t.tenant = $1
		AND EXISTS (SELECT 1 FROM kiln_samples s WHERE s.tenant = t.tenant AND s.tag = t.tag) ORDER BY tag COLLATE "C"`
)

// grant lets the role app read and insert samples and tags, and nothing
// more: not delete, update, alter or drop, nor reach a partition directly.
// It runs in one transaction under the migration and partition locks, so
// replicas opening or creating partitions at once neither race on the
// catalog rows of the tables nor see the role without rights.
func grant(ctx context.Context, admin *pgxpool.Pool, app string) error {
	role := pgx.Identifier{app}.Sanitize()
	err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, "SELECT current_schema(), pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)", migrateLock, partitionLock).Scan(&schema, nil, nil); err != nil {
			return err
		}
		for _, q := range []string{
			"REVOKE ALL ON kiln_samples, kiln_tags, kiln_batches, kiln_samples_view, kiln_partitions, kiln_schema_migrations FROM " + role,
			"GRANT SELECT, INSERT ON kiln_samples, kiln_tags, kiln_batches TO " + role,
			"GRANT SELECT ON kiln_samples_view TO " + role,
			"GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + role,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: grant to %s: %w", app, err)
	}
	return nil
}

// migrate brings the schema to the newest version, one process at a time.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS kiln_schema_migrations (
			version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM kiln_schema_migrations").Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("database has schema version %d, newer than this library's %d", version, len(migrations))
		}
		for v := version + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO kiln_schema_migrations (version) VALUES ($1)", v); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}
