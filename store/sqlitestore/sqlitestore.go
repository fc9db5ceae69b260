package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/agg"
	"github.com/kiln-iot/kiln/store/internal/codec"
	"github.com/kiln-iot/kiln/store/internal/maintain"
	"github.com/kiln-iot/kiln/store/internal/tagcache"
)

// Config says where the database lives and how long samples are kept.
// The zero value of every field but Path means its documented default.
type Config struct {
	// Path is the database file; it is created if missing. Required.
	Path string `yaml:"path"`
	// Retention is how long samples are kept, by source time; 0 keeps
	// them forever.
	Retention time.Duration `yaml:"retention"`
	// MaintenanceInterval is how often Serve deletes expired samples
	// (default 1h).
	MaintenanceInterval time.Duration `yaml:"maintenance_interval"`
	// BusyTimeout is how long a write waits for another connection's
	// write lock (default 5s).
	BusyTimeout time.Duration `yaml:"busy_timeout"`
}

// Validate reports every bad field as a *config.FieldError named by its
// YAML path (path, retention, …).
func (c Config) Validate() error {
	var p config.Problems
	if c.Path == "" {
		p.Add("path", "is required (the database file)")
	}
	if c.Retention < 0 {
		p.Add("retention", "%s is negative", c.Retention)
	}
	if c.MaintenanceInterval < 0 {
		p.Add("maintenance_interval", "%s is negative", c.MaintenanceInterval)
	}
	if c.BusyTimeout < 0 {
		p.Add("busy_timeout", "%s is negative", c.BusyTimeout)
	}
	return p.Err()
}

// Option sets a code-only setting.
type Option func(*options)

type options struct {
	log   *zap.Logger
	clock clock.Clock
}

// WithLogger logs maintenance through l (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that retention and Serve go by.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// Store is a store.Store in an SQLite file.
type Store struct {
	cfg     Config
	opts    options
	db      *sql.DB
	tags    tagcache.Cache
	metrics *maintain.Metrics
	closed  atomic.Bool
	once    sync.Once
	err     error
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database at cfg.Path, in WAL mode, and
// migrates its schema to the current version.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaintenanceInterval == 0 {
		cfg.MaintenanceInterval = time.Hour
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	o := options{log: zap.NewNop(), clock: clock.Real}
	for _, opt := range opts {
		opt(&o)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", OmitHost: true, Path: cfg.Path, RawQuery: q.Encode()}).String())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	s := &Store{cfg: cfg, opts: o, db: db, metrics: maintain.NewMetrics("sqlitestore")}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// migration is one schema version: SQL, then an optional step in Go in
// the same transaction.
type migration struct {
	sql  string
	step func(context.Context, *sql.Tx) error
}

// migrations are applied in order; entry i is schema version i+1. Never
// edit an entry: append a new one.
var migrations = []migration{
	{sql: `CREATE TABLE kiln_samples (
		tenant TEXT NOT NULL,
		tag TEXT NOT NULL,
		ts INTEGER NOT NULL, -- Unix microseconds
		kind INTEGER NOT NULL,
		num INTEGER,         -- numbers: BOOL 0/1, integer bits, IEEE 754 bits, Unix ns
		str BLOB,            -- STRING and BYTESTRING
		q_status INTEGER NOT NULL,
		q_reason INTEGER NOT NULL,
		q_code INTEGER NOT NULL,
		q_detail TEXT NOT NULL,
		PRIMARY KEY (tenant, tag, ts)
	) WITHOUT ROWID;
	CREATE TABLE kiln_tags (
		tenant TEXT NOT NULL,
		tag TEXT NOT NULL,
		PRIMARY KEY (tenant, tag)
	) WITHOUT ROWID;`},
	// 2: the batches written, by identity, for exactly-once per batch.
	{sql: `CREATE TABLE kiln_batches (
		tenant TEXT NOT NULL,
		source TEXT NOT NULL,
		epoch INTEGER NOT NULL,   -- uint64 bits
		seq INTEGER NOT NULL,     -- uint64 bits
		samples INTEGER NOT NULL,
		committed INTEGER NOT NULL, -- Unix microseconds
		PRIMARY KEY (tenant, source, epoch, seq)
	) WITHOUT ROWID;`},
	// 3: REAL and LREAL values in a REAL column, readable by sqlite3 and
	// the decoded view; num keeps a float's bits only where REAL cannot
	// hold it faithfully (NaN, -0).
	{sql: `ALTER TABLE kiln_samples ADD COLUMN fval REAL;` + createView, step: floatsToReal},
}

// floatsToReal moves the floats that versions 1 and 2 kept as bits in
// num into fval.
func floatsToReal(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT tenant, tag, ts, kind, num FROM kiln_samples WHERE kind IN "+codec.Kinds(plc.Kind.IsFloat))
	if err != nil {
		return err
	}
	type row struct {
		tenant, tag string
		ts          int64
		kind        int16
		num         int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.tenant, &r.tag, &r.ts, &r.kind, &r.num); err != nil {
			_ = rows.Close()
			return err
		}
		all = append(all, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	up, err := tx.PrepareContext(ctx, "UPDATE kiln_samples SET num = ?, fval = ? WHERE tenant = ? AND tag = ? AND ts = ?")
	if err != nil {
		return err
	}
	defer func() { _ = up.Close() }()
	for _, r := range all {
		num, fval := numArgs(r.kind, r.num)
		if _, err := up.ExecContext(ctx, num, fval, r.tenant, r.tag, r.ts); err != nil {
			return err
		}
	}
	return nil
}

// numArgs returns the num and fval columns of a numeric value in storage
// form.
func numArgs(kind int16, num int64) (numArg, fvalArg any) {
	if !codec.IsFloat(kind) {
		return num, nil
	}
	f := codec.Float(num)
	switch {
	case math.IsNaN(f):
		return num, nil
	case f == 0 && math.Signbit(f):
		return num, 0.0
	}
	return nil, f
}

// numOf returns the storage-form number of a row: a float's bits from
// num where it kept them, else from fval.
func numOf(kind int16, num sql.NullInt64, fval sql.NullFloat64) int64 {
	if codec.IsFloat(kind) && !num.Valid {
		return codec.Bits(fval.Float64)
	}
	return num.Int64
}

// createView makes kiln_samples_view, the samples decoded for people.
var createView = `
CREATE VIEW kiln_samples_view AS SELECT
	tenant, tag,
	strftime('%Y-%m-%dT%H:%M:%S', ts / 1000000, 'unixepoch') || printf('.%06dZ', ts % 1000000) AS time,
	ts AS time_us,
	` + codec.KindName("kind") + ` AS kind,
	CASE
		WHEN kind IN ` + codec.Kinds(plc.Kind.IsFloat) + ` THEN fval
		WHEN kind IN ` + codec.Kinds(plc.Kind.IsUnsigned) + ` AND num < 0 THEN num + 18446744073709551616.0
		WHEN kind IN ` + codec.Kinds(func(k plc.Kind) bool { return k == plc.Bool || k.IsInteger() }) + ` THEN num
	END AS value_number,
	CASE
		WHEN kind = ` + fmt.Sprint(int(plc.String)) + ` THEN CAST(str AS TEXT)
		WHEN kind = ` + fmt.Sprint(int(plc.ByteString)) + ` THEN hex(str)
		WHEN kind = ` + fmt.Sprint(int(plc.Bool)) + ` THEN CASE num WHEN 0 THEN 'false' ELSE 'true' END
		WHEN kind = ` + fmt.Sprint(int(plc.DateTime)) + ` THEN strftime('%Y-%m-%dT%H:%M:%S', num / 1000000000, 'unixepoch') || printf('.%09dZ', num % 1000000000)
		WHEN kind IN ` + codec.Kinds(plc.Kind.IsFloat) + ` THEN CASE WHEN fval IS NULL THEN 'NaN' WHEN num IS NOT NULL THEN '-0.0' ELSE CAST(fval AS TEXT) END
		-- an unsigned value of 2^63 or more, exactly: u = 2h + b, u/10 = h/5
		WHEN kind IN ` + codec.Kinds(plc.Kind.IsUnsigned) + ` AND num < 0
			THEN CAST(((num >> 1) & 9223372036854775807) / 5 AS TEXT) || CAST(2 * (((num >> 1) & 9223372036854775807) % 5) + (num & 1) AS TEXT)
		ELSE CAST(num AS TEXT)
	END AS value_text,
	` + codec.StatusName("q_status") + ` AS quality,
	` + codec.ReasonName("q_reason") + ` AS reason,
	q_code AS code, q_detail AS detail
FROM kiln_samples;`

func (s *Store) migrate(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w", s.cfg.Path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlitestore: %s: journal mode is %q, want WAL", s.cfg.Path, mode)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS kiln_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM kiln_schema_migrations").Scan(&version); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("sqlitestore: %s has schema version %d, newer than this library's %d", s.cfg.Path, version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		m := migrations[v-1]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlitestore: migration %d: %w", v, err)
		}
		if m.step != nil {
			if err := m.step(ctx, tx); err != nil {
				return fmt.Errorf("sqlitestore: migration %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO kiln_schema_migrations VALUES (?, ?)", v, s.opts.clock.Now().Unix()); err != nil {
			return fmt.Errorf("sqlitestore: migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	return nil
}

// horizon returns the Unix microsecond before which samples are expired,
// or the minimum int64 without retention.
func (s *Store) horizon() int64 {
	if s.cfg.Retention == 0 {
		return -1 << 63
	}
	return s.opts.clock.Now().Add(-s.cfg.Retention).UnixMicro()
}

// Write implements store.Store.
func (s *Store) Write(ctx context.Context, tenant string, samples []plc.Sample) (store.WriteResult, error) {
	return s.WriteBatches(ctx, tenant, []store.Batch{{Samples: samples}})
}

// WriteBatches implements store.Store: each batch with a Source is
// recorded in kiln_batches in the transaction that writes its samples,
// and skipped when its record is there already.
func (s *Store) WriteBatches(ctx context.Context, tenant string, batches []store.Batch) (store.WriteResult, error) {
	var res store.WriteResult
	if s.closed.Load() {
		return res, store.ErrClosed
	}
	if err := store.CheckTenant(tenant); err != nil {
		return res, err
	}
	if err := store.CheckBatches(batches); err != nil {
		return res, err
	}
	n := 0
	for i := range batches {
		n += len(batches[i].Samples)
	}
	if n == 0 {
		return res, nil
	}
	var newTags []string
	for i := range batches {
		newTags = append(newTags, s.tags.Missing(tenant, batches[i].Samples)...)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: write: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rec, err := tx.PrepareContext(ctx, `INSERT INTO kiln_batches VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: write: %w", err)
	}
	defer func() { _ = rec.Close() }()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO kiln_samples (tenant, tag, ts, kind, num, fval, str, q_status, q_reason, q_code, q_detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return res, fmt.Errorf("sqlitestore: write: %w", err)
	}
	defer func() { _ = ins.Close() }()
	horizon := s.horizon()
	now := s.opts.clock.Now().UnixMicro()
	for _, b := range batches {
		if b.Source != "" {
			r, err := rec.ExecContext(ctx, tenant, b.Source, int64(b.Epoch), int64(b.Seq), len(b.Samples), now)
			if err != nil {
				return store.WriteResult{}, fmt.Errorf("sqlitestore: record batch %s/%d/%d: %w", b.Source, b.Epoch, b.Seq, err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				res.Redelivered += len(b.Samples)
				continue
			}
		}
		for i := range b.Samples {
			smp := &b.Samples[i]
			ts := store.Truncate(smp.Time).UnixMicro()
			if ts < horizon {
				res.Expired++
				continue
			}
			kind, num, str, isStr := codec.Split(smp.Value)
			var numArg, fvalArg, strArg any
			if isStr {
				strArg = []byte(str)
			} else if codec.HasNum(kind) {
				numArg, fvalArg = numArgs(kind, num)
			}
			r, err := ins.ExecContext(ctx, tenant, smp.Tag, ts, kind, numArg, fvalArg, strArg,
				int64(smp.Quality.Status), int64(smp.Quality.Reason), int64(smp.Quality.Code), smp.Quality.Detail)
			if err != nil {
				return store.WriteResult{}, fmt.Errorf("sqlitestore: write sample %d: %w", i, err)
			}
			if n, _ := r.RowsAffected(); n == 1 {
				res.Inserted++
			} else {
				res.Duplicates++
			}
		}
	}
	for _, tag := range newTags {
		if _, err := tx.ExecContext(ctx, "INSERT INTO kiln_tags VALUES (?, ?) ON CONFLICT DO NOTHING", tenant, tag); err != nil {
			return store.WriteResult{}, fmt.Errorf("sqlitestore: write tags: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return store.WriteResult{}, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	s.tags.Add(tenant, newTags)
	return res, nil
}

const columns = "tag, ts, kind, num, fval, str, q_status, q_reason, q_code, q_detail"

func scanSamples(rows *sql.Rows) ([]plc.Sample, error) {
	defer func() { _ = rows.Close() }()
	var out []plc.Sample
	for rows.Next() {
		var (
			smp            plc.Sample
			ts             int64
			kind           int16
			num            sql.NullInt64
			fval           sql.NullFloat64
			str            []byte
			status, reason uint8
			code           uint32
		)
		if err := rows.Scan(&smp.Tag, &ts, &kind, &num, &fval, &str, &status, &reason, &code, &smp.Quality.Detail); err != nil {
			return nil, fmt.Errorf("sqlitestore: read: %w", err)
		}
		v, err := codec.Join(kind, numOf(kind, num, fval), str)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: tag %q at %d: %w", smp.Tag, ts, err)
		}
		smp.Value = v
		smp.Time = time.UnixMicro(ts).UTC()
		smp.Quality.Status, smp.Quality.Reason, smp.Quality.Code = plc.Status(status), plc.Reason(reason), code
		out = append(out, smp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read: %w", err)
	}
	return out, nil
}

// Latest implements store.Store.
func (s *Store) Latest(ctx context.Context, tenant string) ([]plc.Sample, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckTenant(tenant); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.tag, s.ts, s.kind, s.num, s.fval, s.str, s.q_status, s.q_reason, s.q_code, s.q_detail
		FROM kiln_tags t JOIN kiln_samples s ON s.tenant = t.tenant AND s.tag = t.tag
		AND s.ts = (SELECT max(m.ts) FROM kiln_samples m WHERE m.tenant = t.tenant AND m.tag = t.tag)
		WHERE t.tenant = ? ORDER BY t.tag`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: latest: %w", err)
	}
	return scanSamples(rows)
}

// Range implements store.Store.
func (s *Store) Range(ctx context.Context, tenant, tag string, from, to time.Time, limit int) ([]plc.Sample, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckRange(tenant, tag, limit); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM kiln_samples
		WHERE tenant = ? AND tag = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?`,
		tenant, tag, store.Truncate(from).UnixMicro(), store.Truncate(to).UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: range: %w", err)
	}
	return scanSamples(rows)
}

// LatestOf implements store.Reader.
func (s *Store) LatestOf(ctx context.Context, tenant string, tags []string) ([]plc.Sample, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckLatestOf(tenant, tags); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: latest: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.tag, s.ts, s.kind, s.num, s.fval, s.str, s.q_status, s.q_reason, s.q_code, s.q_detail
		FROM (SELECT DISTINCT value AS tag FROM json_each(?)) t JOIN kiln_samples s ON s.tenant = ? AND s.tag = t.tag
		AND s.ts = (SELECT max(m.ts) FROM kiln_samples m WHERE m.tenant = s.tenant AND m.tag = t.tag)`, string(list), tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: latest: %w", err)
	}
	out, err := scanSamples(rows)
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, err
}

// Aggregate implements store.Reader.
func (s *Store) Aggregate(ctx context.Context, tenant string, q store.AggregateQuery) ([]store.Bucket, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckAggregate(tenant, q); err != nil {
		return nil, err
	}
	f := agg.New(q)
	from, to := f.Range()
	var (
		kind   int16
		num    sql.NullInt64
		fval   sql.NullFloat64
		status uint8
		ts     int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT kind, num, fval, q_status, ts FROM kiln_samples
		WHERE tenant = ? AND tag = ? AND ts < ? ORDER BY ts DESC LIMIT 1`, tenant, q.Tag, from).Scan(&kind, &num, &fval, &status, &ts)
	switch {
	case err == nil:
		f.Prior(agg.Of(kind, numOf(kind, num, fval), plc.Status(status), ts))
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlitestore: aggregate: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, num, fval, q_status, ts FROM kiln_samples
		WHERE tenant = ? AND tag = ? AND ts >= ? AND ts < ? ORDER BY ts`, tenant, q.Tag, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: aggregate: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := rows.Scan(&kind, &num, &fval, &status, &ts); err != nil {
			return nil, fmt.Errorf("sqlitestore: aggregate: %w", err)
		}
		f.Add(agg.Of(kind, numOf(kind, num, fval), plc.Status(status), ts))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: aggregate: %w", err)
	}
	return f.Buckets(), nil
}

// Tags implements store.Store.
func (s *Store) Tags(ctx context.Context, tenant string) ([]string, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckTenant(tenant); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT tag FROM kiln_tags t WHERE tenant = ?
		AND EXISTS (SELECT 1 FROM kiln_samples s WHERE s.tenant = t.tenant AND s.tag = t.tag) ORDER BY tag`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: tags: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			return nil, fmt.Errorf("sqlitestore: tags: %w", err)
		}
		out = append(out, tag)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: tags: %w", err)
	}
	return out, nil
}

// Maintain deletes samples older than the retention horizon, and the
// batch records committed before it, and returns how many samples. Without retention it does nothing.
func (s *Store) Maintain(ctx context.Context) (deleted int64, err error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	start := s.opts.clock.Now()
	defer func() { s.metrics.Run(start, s.opts.clock.Now(), err) }()
	if s.cfg.Retention == 0 {
		return 0, nil
	}
	horizon := s.horizon()
	rows, err := s.db.QueryContext(ctx, "SELECT tenant, tag FROM kiln_tags")
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: retention: %w", err)
	}
	type key struct{ tenant, tag string }
	var keys []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.tenant, &k.tag); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("sqlitestore: retention: %w", err)
		}
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("sqlitestore: retention: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: retention: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Delete per tag so each delete walks the primary key, not the table.
	var total int64
	for _, k := range keys {
		r, err := tx.ExecContext(ctx, "DELETE FROM kiln_samples WHERE tenant = ? AND tag = ? AND ts < ?", k.tenant, k.tag, horizon)
		if err != nil {
			return 0, fmt.Errorf("sqlitestore: retention: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	// Batch records older than the retention: their samples are expired,
	// so a late redelivery writes nothing anyway.
	r, err := tx.ExecContext(ctx, "DELETE FROM kiln_batches WHERE committed < ?", horizon)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: retention: %w", err)
	}
	records, _ := r.RowsAffected()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlitestore: retention: %w", err)
	}
	s.metrics.Removed("samples", total)
	s.metrics.Removed("batch_records", records)
	return total, nil
}

// Describe implements prometheus.Collector: the maintenance metrics
// (kiln_store_maintenance_runs_total, kiln_store_maintenance_seconds,
// kiln_store_maintenance_last_success_timestamp_seconds,
// kiln_store_retention_removed_total), for the caller to register.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { s.metrics.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) { s.metrics.Collect(ch) }

// Serve runs Maintain every Config.MaintenanceInterval until ctx ends,
// logging failures; it returns nil when ctx ends.
func (s *Store) Serve(ctx context.Context) error {
	return maintain.Loop(ctx, s.opts.clock, s.cfg.MaintenanceInterval, func(ctx context.Context) error {
		n, err := s.Maintain(ctx)
		switch {
		case errors.Is(err, store.ErrClosed):
		case err != nil:
			s.opts.log.Warn("retention failed", zap.Error(err))
		case n > 0:
			s.opts.log.Info("expired samples deleted", zap.Int64("rows", n))
		}
		return err
	})
}

// Close closes the database. It is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.err = s.db.Close()
	})
	return s.err
}
