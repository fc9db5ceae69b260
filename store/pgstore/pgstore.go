package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/agg"
	"github.com/kiln-iot/kiln/store/internal/codec"
	"github.com/kiln-iot/kiln/store/internal/maintain"
	"github.com/kiln-iot/kiln/store/internal/tagcache"
)

// Config says which database to use and how samples are partitioned and
// kept. The zero value of every field but DSN means its documented
// default.
type Config struct {
	// DSN is a pgx connection string (URL or key=value) for reading and
	// writing samples. Its role must be neither a superuser nor
	// BYPASSRLS. Without OwnerDSN it also owns the tables it creates.
	DSN string `yaml:"dsn"`
	// OwnerDSN, if set, connects as a separate role that owns the schema:
	// it runs the migrations, creates and drops partitions, and grants
	// DSN's role only SELECT and INSERT on the samples and tags tables.
	// DSN's role then cannot disable row-level security, alter or drop
	// the tables, delete rows or query a partition directly; under FORCE
	// ROW LEVEL SECURITY it reaches only the rows of the tenant its
	// transaction is set to. Recommended for production; empty means DSN's
	// role does everything (and, owning the tables, could in principle
	// turn row-level security off).
	OwnerDSN string `yaml:"owner_dsn"`
	// PartitionPeriod is the time span of one partition (default 24h);
	// whole seconds, at least a minute.
	PartitionPeriod time.Duration `yaml:"partition_period"`
	// PartitionsAhead is how many partitions after the current one
	// maintenance creates in advance (default 2).
	PartitionsAhead int `yaml:"partitions_ahead"`
	// Retention is how long samples are kept, by source time; 0 keeps
	// them forever. Whole partitions are dropped once all their samples
	// are older than Retention.
	Retention time.Duration `yaml:"retention"`
	// MaintenanceInterval is how often Serve creates and drops partitions
	// (default: a quarter of PartitionPeriod, at most 1h).
	MaintenanceInterval time.Duration `yaml:"maintenance_interval"`
	// MaxConns caps the connection pool (default 4).
	MaxConns int32 `yaml:"max_conns"`
}

// Validate reports every bad field as a *config.FieldError named by its
// YAML path (dsn, partition_period, …).
func (c Config) Validate() error {
	var p config.Problems
	if c.DSN == "" {
		p.Add("dsn", "is required (a PostgreSQL URL or key=value connection string)")
	} else if _, err := pgxpool.ParseConfig(c.DSN); err != nil {
		p.Add("dsn", "%w", err)
	}
	if c.OwnerDSN != "" {
		if _, err := pgxpool.ParseConfig(c.OwnerDSN); err != nil {
			p.Add("owner_dsn", "%w", err)
		}
	}
	if c.PartitionPeriod != 0 && (c.PartitionPeriod < time.Minute || c.PartitionPeriod%time.Second != 0) {
		p.Add("partition_period", "%s is not whole seconds of at least 1m", c.PartitionPeriod)
	}
	if c.PartitionsAhead < 0 {
		p.Add("partitions_ahead", "%d is negative", c.PartitionsAhead)
	}
	if c.Retention < 0 {
		p.Add("retention", "%s is negative", c.Retention)
	}
	if c.MaintenanceInterval < 0 {
		p.Add("maintenance_interval", "%s is negative", c.MaintenanceInterval)
	}
	if c.MaxConns < 0 {
		p.Add("max_conns", "%d is negative", c.MaxConns)
	}
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.PartitionPeriod == 0 {
		c.PartitionPeriod = 24 * time.Hour
	}
	if c.PartitionsAhead == 0 {
		c.PartitionsAhead = 2
	}
	if c.MaintenanceInterval == 0 {
		c.MaintenanceInterval = min(c.PartitionPeriod/4, time.Hour)
	}
	if c.MaxConns == 0 {
		c.MaxConns = 4
	}
	return c
}

// Option sets a code-only setting.
type Option func(*options)

type options struct {
	log   *zap.Logger
	clock clock.Clock
}

// WithLogger logs maintenance through l (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that retention, partition creation and Serve
// go by.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// Store is a store.Store in PostgreSQL.
type Store struct {
	cfg     Config
	opts    options
	pool    *pgxpool.Pool // reads and writes samples
	admin   *pgxpool.Pool // migrates and maintains partitions: pool, or the OwnerDSN's pool
	tags    tagcache.Cache
	parts   spans
	metrics *maintain.Metrics
	closed  atomic.Bool
	once    sync.Once

	// hook, when set by tests, runs at the named stages of a write with
	// the backend's process id.
	hook func(stage string, pid uint32)
}

var _ store.Store = (*Store)(nil)

// Open connects, checks that the role cannot bypass row-level security,
// migrates the schema to the current version and creates the partitions
// for now and PartitionsAhead periods ahead.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{log: zap.NewNop(), clock: clock.Real}
	for _, opt := range opts {
		opt(&o)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgstore: Config.DSN: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	// Each connection gets its own staging table for COPY; it is emptied
	// at every commit or rollback.
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, createStage)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s := &Store{cfg: cfg, opts: o, pool: pool, admin: pool, metrics: maintain.NewMetrics("pgstore")}
	if cfg.OwnerDSN != "" {
		acfg, err := pgxpool.ParseConfig(cfg.OwnerDSN)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("pgstore: Config.OwnerDSN: %w", err)
		}
		acfg.MaxConns = 2
		if s.admin, err = pgxpool.NewWithConfig(ctx, acfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("pgstore: connect (Config.OwnerDSN): %w", err)
		}
	}
	if err := s.setUp(ctx); err != nil {
		s.closePools()
		return nil, err
	}
	return s, nil
}

func (s *Store) setUp(ctx context.Context) error {
	var role string
	var bypass bool
	err := s.pool.QueryRow(ctx, `SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&role, &bypass)
	if err != nil {
		return fmt.Errorf("pgstore: connect: %w", err)
	}
	if bypass {
		return fmt.Errorf("%w (role %q)", store.ErrBypassesRLS, role)
	}
	if s.admin != s.pool {
		var owner string
		if err := s.admin.QueryRow(ctx, "SELECT current_user").Scan(&owner); err != nil {
			return fmt.Errorf("pgstore: connect (Config.OwnerDSN): %w", err)
		}
		if owner == role {
			return fmt.Errorf("pgstore: Config.OwnerDSN: same role %q as Config.DSN; the owner must be a different role", role)
		}
	}
	if err := migrate(ctx, s.admin); err != nil {
		return err
	}
	if s.admin != s.pool {
		if err := grant(ctx, s.admin, role); err != nil {
			return err
		}
	}
	return s.createAhead(ctx)
}

func (s *Store) closePools() {
	s.pool.Close()
	if s.admin != s.pool {
		s.admin.Close()
	}
}

// Partition is one time partition of the samples table.
type Partition struct {
	Name     string
	From, To time.Time // From <= source time < To
}

// Partitions lists the sample partitions, oldest first.
func (s *Store) Partitions(ctx context.Context) ([]Partition, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.admin.Query(ctx, "SELECT name, lo, hi FROM kiln_partitions ORDER BY lo")
	if err != nil {
		return nil, fmt.Errorf("pgstore: partitions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Partition, error) {
		var p Partition
		err := r.Scan(&p.Name, &p.From, &p.To)
		p.From, p.To = p.From.UTC(), p.To.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: partitions: %w", err)
	}
	return out, nil
}

// ensure makes sure a partition covers t and remembers its span.
func (s *Store) ensure(ctx context.Context, t time.Time) error {
	var lo, hi time.Time
	err := s.admin.QueryRow(ctx, "SELECT p_lo, p_hi FROM kiln_ensure_partition($1, $2)", t, int64(s.cfg.PartitionPeriod/time.Second)).Scan(&lo, &hi)
	if err != nil {
		return fmt.Errorf("pgstore: create partition for %v: %w", t, err)
	}
	s.parts.add(lo.UnixMicro(), hi.UnixMicro())
	return nil
}

// createAhead creates the partitions for now and PartitionsAhead periods
// ahead.
func (s *Store) createAhead(ctx context.Context) error {
	now := s.opts.clock.Now()
	for i := 0; i <= s.cfg.PartitionsAhead; i++ {
		if err := s.ensure(ctx, now.Add(time.Duration(i)*s.cfg.PartitionPeriod)); err != nil {
			return err
		}
	}
	return nil
}

// horizon returns the time before which samples are expired; the zero
// time without retention.
func (s *Store) horizon() time.Time {
	if s.cfg.Retention == 0 {
		return time.Time{}
	}
	return s.opts.clock.Now().Add(-s.cfg.Retention)
}

// Maintain creates the partitions ahead, drops those whose samples are
// all older than Retention and deletes the batch records committed before
// then. It returns the names of dropped partitions.
func (s *Store) Maintain(ctx context.Context) (dropped []string, err error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	start := s.opts.clock.Now()
	defer func() { s.metrics.Run(start, s.opts.clock.Now(), err) }()
	if err := s.createAhead(ctx); err != nil {
		return nil, err
	}
	h := s.horizon()
	if h.IsZero() {
		return nil, nil
	}
	var records int64
	err = pgx.BeginFunc(ctx, s.admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT name FROM kiln_partitions WHERE hi <= $1 ORDER BY lo", h)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM kiln_partitions WHERE name = $1", name); err != nil {
				return err
			}
		}
		dropped = names
		// Batch records older than the retention: their samples are
		// expired, so a late redelivery writes nothing anyway.
		if _, err := tx.Exec(ctx, "SELECT set_config('kiln.prune', 'on', true)"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM kiln_batches WHERE committed < $1", h)
		records = tag.RowsAffected()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: retention: %w", err)
	}
	s.metrics.Removed("partitions", int64(len(dropped)))
	s.metrics.Removed("batch_records", records)
	s.parts.dropBefore(h.UnixMicro())
	return dropped, nil
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
		dropped, err := s.Maintain(ctx)
		switch {
		case errors.Is(err, store.ErrClosed):
		case err != nil:
			if ctx.Err() == nil {
				s.opts.log.Warn("partition maintenance failed", zap.Error(err))
			}
		case len(dropped) > 0:
			s.opts.log.Info("expired partitions dropped", zap.Strings("partitions", dropped))
		}
		return err
	})
}

// inTenant runs fn in a transaction whose row-level-security tenant is
// tenant; rows of other tenants are invisible to it and cannot be written.
func (s *Store) inTenant(ctx context.Context, tenant string, mode pgx.TxAccessMode, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: mode}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kiln.tenant', $1, true)", tenant); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Write implements store.Store, as WriteBatches of one batch without
// identity.
func (s *Store) Write(ctx context.Context, tenant string, samples []plc.Sample) (store.WriteResult, error) {
	return s.WriteBatches(ctx, tenant, []store.Batch{{Samples: samples}})
}

// WriteBatches implements store.Store: the identities of the batches are
// inserted into kiln_batches first, skipping those already there (an
// identity committed meanwhile by another writer waits for that
// transaction and is then skipped too); the samples of the new batches
// are copied into the connection's staging table and moved into the
// partitioned table, skipping keys already stored; all in one
// transaction under the tenant's row-level-security setting.
func (s *Store) WriteBatches(ctx context.Context, tenant string, batches []store.Batch) (store.WriteResult, error) {
	if s.closed.Load() {
		return store.WriteResult{}, store.ErrClosed
	}
	if err := store.CheckTenant(tenant); err != nil {
		return store.WriteResult{}, err
	}
	if err := store.CheckBatches(batches); err != nil {
		return store.WriteResult{}, err
	}
	n := 0
	for i := range batches {
		n += len(batches[i].Samples)
	}
	if n == 0 {
		return store.WriteResult{}, nil
	}
	res, err := s.write(ctx, tenant, batches)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" {
		// No partition for a row: another process dropped one this
		// process still knew. Forget what we knew and try once more.
		s.parts.reset()
		res, err = s.write(ctx, tenant, batches)
	}
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("pgstore: write %d samples for %s: %w", n, tenant, err)
	}
	return res, nil
}

// identity is a batch's (source, epoch, seq).
type identity struct {
	source     string
	epoch, seq uint64
}

func (s *Store) write(ctx context.Context, tenant string, batches []store.Batch) (store.WriteResult, error) {
	var res store.WriteResult
	h := s.horizon()
	hMicro := int64(-1 << 63)
	if !h.IsZero() {
		hMicro = store.Truncate(h).UnixMicro()
	}
	var newTags []string
	for _, b := range batches {
		for i := range b.Samples {
			ts := store.Truncate(b.Samples[i].Time)
			if m := ts.UnixMicro(); m >= hMicro && !s.parts.covers(m) {
				if err := s.ensure(ctx, ts); err != nil {
					return res, err
				}
			}
		}
		newTags = append(newTags, s.tags.Missing(tenant, b.Samples)...)
	}
	// The identities to record, each once: a repeat within the call is
	// a redelivery like any other.
	var (
		sources      []string
		epochs, seqs []int64
		sizes        []int32
		first        = map[identity]int{}
	)
	for i, b := range batches {
		if b.Source == "" {
			continue
		}
		id := identity{b.Source, b.Epoch, b.Seq}
		if _, ok := first[id]; ok {
			continue
		}
		first[id] = i
		sources, epochs, seqs, sizes = append(sources, b.Source), append(epochs, int64(b.Epoch)), append(seqs, int64(b.Seq)), append(sizes, int32(len(b.Samples)))
	}
	err := s.inTenant(ctx, tenant, pgx.ReadWrite, func(tx pgx.Tx) error {
		pid := tx.Conn().PgConn().PID()
		res = store.WriteResult{}
		keep := make([]bool, len(batches))
		for i, b := range batches {
			keep[i] = b.Source == ""
		}
		if len(sources) > 0 {
			rows, err := tx.Query(ctx, recordBatches, tenant, sources, epochs, seqs, sizes, s.opts.clock.Now())
			if err != nil {
				return err
			}
			var id identity
			var epoch, seq int64
			_, err = pgx.ForEachRow(rows, []any{&id.source, &epoch, &seq}, func() error {
				id.epoch, id.seq = uint64(epoch), uint64(seq)
				keep[first[id]] = true
				return nil
			})
			if err != nil {
				return err
			}
		}
		src := &stageSource{horizon: hMicro, row: make([]any, len(stageColumns))}
		total := 0
		for i, b := range batches {
			if !keep[i] {
				res.Redelivered += len(b.Samples)
				continue
			}
			src.batches = append(src.batches, b.Samples)
			total += len(b.Samples)
		}
		if total == 0 {
			return nil
		}
		copied, err := tx.CopyFrom(ctx, pgx.Identifier{"kiln_stage"}, stageColumns, src)
		if err != nil {
			return err
		}
		s.runHook("copied", pid)
		inserted, err := moveStage(ctx, tx, tenant)
		if err != nil {
			return err
		}
		if len(newTags) > 0 {
			if _, err := tx.Exec(ctx, insertTags, tenant, newTags); err != nil {
				return err
			}
		}
		s.runHook("inserted", pid)
		res.Inserted = int(inserted)
		res.Duplicates = int(copied) - res.Inserted
		res.Expired = total - int(copied)
		return nil
	})
	if err != nil {
		return store.WriteResult{}, err
	}
	s.tags.Add(tenant, newTags)
	return res, nil
}

// moveStage moves the staged rows into the samples table and returns how
// many were new. It first tries a plain INSERT in a savepoint: with no
// duplicates, the usual case, that costs less than half of INSERT … ON
// CONFLICT DO NOTHING, whose speculative insertion is slow. A unique
// violation means duplicates: back to the savepoint and skip them.
func moveStage(ctx context.Context, tx pgx.Tx, tenant string) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	tag, err := sp.Exec(ctx, insertFromStage, tenant)
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return tag.RowsAffected(), sp.Commit(ctx)
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		if err := sp.Rollback(ctx); err != nil {
			return 0, err
		}
		tag, err = tx.Exec(ctx, insertFromStage+" ON CONFLICT DO NOTHING", tenant)
		return tag.RowsAffected(), err
	default:
		return 0, err
	}
}

func (s *Store) runHook(stage string, pid uint32) {
	if s.hook != nil {
		s.hook(stage, pid)
	}
}

// stageSource feeds the samples of batches to COPY, skipping expired
// ones.
type stageSource struct {
	batches [][]plc.Sample
	horizon int64 // Unix µs
	b, i    int
	row     []any // reused: pgx encodes each row before asking for the next
}

func (s *stageSource) Next() bool {
	for s.b < len(s.batches) {
		if s.i == len(s.batches[s.b]) {
			s.b, s.i = s.b+1, 0
			continue
		}
		smp := &s.batches[s.b][s.i]
		s.i++
		ts := store.Truncate(smp.Time)
		if ts.UnixMicro() < s.horizon {
			continue
		}
		kind, num, str, isStr := codec.Split(smp.Value)
		s.row[0], s.row[1], s.row[2] = smp.Tag, ts, kind
		s.row[3], s.row[4], s.row[5] = nil, nil, nil
		switch {
		case isStr:
			s.row[5] = []byte(str)
		case codec.IsFloat(kind):
			s.row[4] = codec.Float(num)
		case codec.HasNum(kind):
			s.row[3] = num
		}
		q := smp.Quality
		s.row[6], s.row[7], s.row[8], s.row[9] = int16(q.Status), int16(q.Reason), int64(q.Code), q.Detail
		return true
	}
	return false
}

func (s *stageSource) Values() ([]any, error) { return s.row, nil }
func (s *stageSource) Err() error             { return nil }

// Latest implements store.Store.
func (s *Store) Latest(ctx context.Context, tenant string) ([]plc.Sample, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckTenant(tenant); err != nil {
		return nil, err
	}
	return s.query(ctx, tenant, "latest", selectLatest, tenant)
}

// Range implements store.Store.
func (s *Store) Range(ctx context.Context, tenant, tag string, from, to time.Time, limit int) ([]plc.Sample, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckRange(tenant, tag, limit); err != nil {
		return nil, err
	}
	return s.query(ctx, tenant, "range", selectRange, tenant, tag, store.Truncate(from), store.Truncate(to), limit)
}

func (s *Store) query(ctx context.Context, tenant, what, sql string, args ...any) ([]plc.Sample, error) {
	var out []plc.Sample
	err := s.inTenant(ctx, tenant, pgx.ReadOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanSample)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s for %s: %w", what, tenant, err)
	}
	return out, nil
}

func scanSample(r pgx.CollectableRow) (plc.Sample, error) {
	var (
		smp            plc.Sample
		kind           int16
		ival           *int64
		fval           *float64
		sval           []byte
		status, reason int16
		code           int64
	)
	if err := r.Scan(&smp.Tag, &smp.Time, &kind, &ival, &fval, &sval, &status, &reason, &code, &smp.Quality.Detail); err != nil {
		return smp, err
	}
	var num int64
	switch {
	case fval != nil:
		num = codec.Bits(*fval)
	case ival != nil:
		num = *ival
	}
	v, err := codec.Join(kind, num, sval)
	if err != nil {
		return smp, fmt.Errorf("tag %q at %v: %w", smp.Tag, smp.Time, err)
	}
	smp.Value = v
	smp.Time = smp.Time.UTC()
	smp.Quality.Status, smp.Quality.Reason, smp.Quality.Code = plc.Status(status), plc.Reason(reason), uint32(code)
	return smp, nil
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
	return s.query(ctx, tenant, "latest", selectLatestOf, tenant, tags)
}

// Aggregate implements store.Reader: the tag's samples in the range, and
// the one before it, are read in time order and folded as they come.
func (s *Store) Aggregate(ctx context.Context, tenant string, q store.AggregateQuery) ([]store.Bucket, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := store.CheckAggregate(tenant, q); err != nil {
		return nil, err
	}
	f := agg.New(q)
	from, to := f.Range()
	err := s.inTenant(ctx, tenant, pgx.ReadOnly, func(tx pgx.Tx) error {
		// Value types, not pointers: no allocation per row.
		var (
			kind, status int16
			ival         pgtype.Int8
			fval         pgtype.Float8
			ts           time.Time
		)
		point := func() agg.Point {
			var num int64
			switch {
			case fval.Valid:
				num = codec.Bits(fval.Float64)
			case ival.Valid:
				num = ival.Int64
			}
			return agg.Of(kind, num, plc.Status(status), ts.UnixMicro())
		}
		dst := []any{&kind, &ival, &fval, &status, &ts}
		lo, hi := time.UnixMicro(from), time.UnixMicro(to)
		switch err := tx.QueryRow(ctx, selectPrior, tenant, q.Tag, lo).Scan(dst...); {
		case err == nil:
			f.Prior(point())
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		rows, err := tx.Query(ctx, selectAggregate, tenant, q.Tag, lo, hi)
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, dst, func() error {
			f.Add(point())
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: aggregate for %s: %w", tenant, err)
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
	var out []string
	err := s.inTenant(ctx, tenant, pgx.ReadOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectTags, tenant)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: tags for %s: %w", tenant, err)
	}
	return out, nil
}

// Close closes the connection pools, waiting for connections in use to be
// returned. It is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.closePools()
	})
	return nil
}

// spans is the set of partition time spans known to exist, in Unix µs.
type spans struct {
	mu sync.Mutex
	s  []span // sorted by lo, disjoint
}

type span struct{ lo, hi int64 }

func (p *spans) covers(t int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.s), func(i int) bool { return p.s[i].hi > t })
	return i < len(p.s) && p.s[i].lo <= t
}

func (p *spans) add(lo, hi int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.s), func(i int) bool { return p.s[i].lo >= lo })
	if i < len(p.s) && p.s[i].lo == lo {
		p.s[i].hi = hi
		return
	}
	p.s = append(p.s, span{})
	copy(p.s[i+1:], p.s[i:])
	p.s[i] = span{lo, hi}
}

func (p *spans) dropBefore(t int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.s), func(i int) bool { return p.s[i].hi > t })
	p.s = append(p.s[:0], p.s[i:]...)
}

func (p *spans) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = nil
}
