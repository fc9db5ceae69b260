//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
)

func main() {
	n := flag.Int("n", 1_000_000, "samples to write per method")
	batch := flag.Int("batch", 10_000, "samples per write for COPY-based methods")
	insertRows := flag.Int("insert-rows", 1000, "rows per multi-row INSERT")
	tags := flag.Int("tags", 1000, "distinct tags")
	rounds := flag.Int("rounds", 3, "rounds; the table shows the median")
	queries := flag.Bool("queries", false, "measure the trend queries instead of writes")
	runs := flag.Int("runs", 100, "runs per query with -queries")
	others := flag.Int("others", 100_000, "other tags with -queries")
	flag.Parse()
	if *queries {
		if *runs < 1 || *others < 1000 {
			fmt.Fprintln(os.Stderr, "storebench: -runs must be positive and -others at least 1000")
			os.Exit(2)
		}
		if err := runQueries(*runs, *others); err != nil {
			fmt.Fprintln(os.Stderr, "storebench:", err)
			os.Exit(1)
		}
		return
	}
	if *n < 1 || *batch < 1 || *insertRows < 1 || *insertRows*11 > 65535 || *tags < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "storebench: -n, -batch, -tags and -rounds must be positive; -insert-rows 1..5957")
		os.Exit(2)
	}
	if err := run(*n, *batch, *insertRows, *tags, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

type result struct {
	name string
	rows int
	dur  time.Duration
}

func (r result) rate() float64 { return float64(r.rows) / r.dur.Seconds() }

func run(n, batch, insertRows, tags, rounds int) error {
	ctx := context.Background()
	c, err := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{"shared_buffers": "256MB", "max_wal_size": "4GB"}})
	if err != nil {
		return err
	}
	defer c.Stop()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	samples := make([]plc.Sample, n)
	for i := range samples {
		samples[i] = plc.Sample{
			Tag:     "Line" + strconv.Itoa(i%tags/100) + ".Tag" + strconv.Itoa(i%tags),
			Value:   plc.FloatValue(plc.LReal, float64(i)*0.25),
			Quality: plc.Good,
			Time:    t0.Add(time.Duration(i/tags) * time.Second),
		}
	}
	var names []string
	rates := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		res, err := round(ctx, c, samples, t0, batch, insertRows)
		if err != nil {
			return err
		}
		for _, x := range res {
			if r == 0 {
				names = append(names, x.name)
			}
			rates[x.name] = append(rates[x.name], x.rate())
		}
	}

	fmt.Printf("%d samples, %d tags, COPY batches of %d, one connection, PostgreSQL on 127.0.0.1 (fsync off), %d rounds on fresh tables\n\n", n, tags, batch, rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "method\trows/s (median)\tmin\tmax\t(a) ÷ this\t")
	a := median(rates[names[1]])
	for _, name := range names {
		r := rates[name]
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.0f\t%.2f\t\n", name, median(r), slices.Min(r), slices.Max(r), a/median(r))
	}
	return w.Flush()
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// round runs every method once on a fresh database.
func round(ctx context.Context, c *pgtest.Cluster, samples []plc.Sample, t0 time.Time, batch, insertRows int) ([]result, error) {
	n := len(samples)
	db, err := c.CreateDB(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	cols := `(tenant text NOT NULL, tag text NOT NULL, ts timestamptz NOT NULL, kind smallint NOT NULL,
		ival bigint, fval double precision, sval bytea, q_status smallint NOT NULL, q_reason smallint NOT NULL,
		q_code bigint NOT NULL, q_detail text NOT NULL`
	for _, q := range []string{
		"CREATE TABLE plain " + cols + ")",
		"CREATE TABLE plain_pk " + cols + ", PRIMARY KEY (tenant, tag, ts))",
		"CREATE TABLE upsert " + cols + ", PRIMARY KEY (tenant, tag, ts))",
		"CREATE TABLE staged " + cols + ", PRIMARY KEY (tenant, tag, ts))",
		"CREATE TABLE staged_sorted " + cols + ", PRIMARY KEY (tenant, tag, ts))",
		"CREATE TEMP TABLE stage " + cols + ") ON COMMIT DELETE ROWS",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, err
		}
	}

	var results []result
	// (b) raw COPY into a plain table, no key: the ceiling.
	r, err := rawCopy(ctx, conn, "plain", samples, batch)
	if err != nil {
		return nil, err
	}
	r.name = "(b) COPY into a plain table, no key (ceiling)"
	results = append(results, r)

	// (a) kiln's idempotent path.
	s, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN, MaxConns: 1}, pgstore.WithClock(clock.NewFake(t0)))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for _, name := range []string{"(a) kiln pgstore.WriteBatches: batch record, COPY → staging → INSERT", "(a') the same batches again: skipped by their batch records"} {
		start := time.Now()
		for i := 0; i < n; i += batch {
			b := store.Batch{Source: "gw-1", Epoch: 1, Seq: uint64(i/batch + 1), Samples: samples[i:min(i+batch, n)]}
			if _, err := s.WriteBatches(ctx, "acme", []store.Batch{b}); err != nil {
				return nil, err
			}
		}
		results = append(results, result{name: name, rows: n, dur: time.Since(start)})
	}

	// (c) multi-row INSERT … ON CONFLICT DO NOTHING.
	r, err = multiInsert(ctx, conn, samples, insertRows)
	if err != nil {
		return nil, err
	}
	r.name = fmt.Sprintf("(c) INSERT … ON CONFLICT DO NOTHING, %d rows per statement", insertRows)
	results = append(results, r)

	// For reference: COPY into a plain table with the same primary key.
	r, err = rawCopy(ctx, conn, "plain_pk", samples, batch)
	if err != nil {
		return nil, err
	}
	r.name = "(ref) COPY into a plain table with the primary key"
	results = append(results, r)

	// Where (a) loses against (ref): the same staging path in plain SQL
	// into one keyed table, without partitions or row-level security,
	// moved in arrival order and sorted by the key.
	for _, t := range []struct{ table, order, name string }{
		{"staged", "", "(x) COPY → staging → INSERT, keyed table, no partitions, no RLS"},
		{"staged_sorted", " ORDER BY tag, ts", "(x') the same, moved ORDER BY tag, ts"},
	} {
		r, err = staged(ctx, conn, t.table, t.order, samples, batch)
		if err != nil {
			return nil, err
		}
		r.name = t.name
		results = append(results, r)
	}

	var count int
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM upsert) + (SELECT count(*) FROM plain) + (SELECT count(*) FROM plain_pk) + (SELECT count(*) FROM staged) + (SELECT count(*) FROM staged_sorted)").Scan(&count); err != nil {
		return nil, err
	}
	if count != 5*n {
		return nil, fmt.Errorf("tables hold %d rows, want %d", count, 5*n)
	}
	return results, nil
}

// row lays a sample out as the benchmark tables' columns.
func row(s *plc.Sample) []any {
	return []any{"acme", s.Tag, s.Time, int16(s.Value.Kind()), nil, s.Value.Float(), nil,
		int16(s.Quality.Status), int16(s.Quality.Reason), int64(s.Quality.Code), s.Quality.Detail}
}

// copyRows is samples as a COPY source of the benchmark tables' columns.
func copyRows(samples []plc.Sample) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(samples), func(i int) ([]any, error) { return row(&samples[i]), nil })
}

var columns = []string{"tenant", "tag", "ts", "kind", "ival", "fval", "sval", "q_status", "q_reason", "q_code", "q_detail"}

func rawCopy(ctx context.Context, conn *pgx.Conn, table string, samples []plc.Sample, batch int) (result, error) {
	start := time.Now()
	for i := 0; i < len(samples); i += batch {
		part := samples[i:min(i+batch, len(samples))]
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, columns, copyRows(part))
		if err != nil {
			return result{}, err
		}
	}
	return result{rows: len(samples), dur: time.Since(start)}, nil
}

// staged COPYs each batch into a temporary table and moves it into table
// with one INSERT … SELECT, in one transaction per batch.
func staged(ctx context.Context, conn *pgx.Conn, table, order string, samples []plc.Sample, batch int) (result, error) {
	move := "INSERT INTO " + table + " SELECT * FROM stage" + order
	start := time.Now()
	for i := 0; i < len(samples); i += batch {
		part := samples[i:min(i+batch, len(samples))]
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage"}, columns, copyRows(part))
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, move)
			return err
		})
		if err != nil {
			return result{}, err
		}
	}
	return result{rows: len(samples), dur: time.Since(start)}, nil
}

func multiInsert(ctx context.Context, conn *pgx.Conn, samples []plc.Sample, per int) (result, error) {
	stmt := func(rows int) string {
		var b strings.Builder
		b.WriteString("INSERT INTO upsert (" + strings.Join(columns, ", ") + ") VALUES ")
		p := 1
		for r := 0; r < rows; r++ {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range columns {
				if c > 0 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(p))
				p++
			}
			b.WriteByte(')')
		}
		b.WriteString(" ON CONFLICT DO NOTHING")
		return b.String()
	}
	full := stmt(per)
	start := time.Now()
	args := make([]any, 0, per*len(columns))
	for i := 0; i < len(samples); i += per {
		part := samples[i:min(i+per, len(samples))]
		args = args[:0]
		for j := range part {
			args = append(args, row(&part[j])...)
		}
		sql := full
		if len(part) != per {
			sql = stmt(len(part))
		}
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			return result{}, err
		}
	}
	return result{rows: len(samples), dur: time.Since(start)}, nil
}
