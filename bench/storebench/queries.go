//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/store/sqlitestore"
)

// queryData is what the query benchmarks read: one tag with a day of
// 1 Hz samples, one with a year of one sample a minute, and others tags
// tags with a sample each spread over the same day around them.
func queryData(t0 time.Time, others int) [][]plc.Sample {
	var all []plc.Sample
	for i := range 86_400 {
		all = append(all, plc.Sample{Tag: "Trend.Day", Value: plc.FloatValue(plc.LReal, float64(i%600)), Quality: plc.Good, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	for i := range 525_600 {
		all = append(all, plc.Sample{Tag: "Trend.Year", Value: plc.FloatValue(plc.LReal, float64(i%1440)), Quality: plc.Good, Time: t0.Add(-365*24*time.Hour + time.Duration(i)*time.Minute)})
	}
	for i := range others {
		all = append(all, plc.Sample{Tag: "Other.Tag" + strconv.Itoa(i), Value: plc.IntValue(plc.DInt, int64(i)), Quality: plc.Good,
			Time: t0.Add(time.Duration(i) * 86_400 * time.Second / time.Duration(others))})
	}
	var batches [][]plc.Sample
	for i := 0; i < len(all); i += 1000 {
		batches = append(batches, all[i:min(i+1000, len(all))])
	}
	return batches
}

// runQueries fills pgstore and sqlitestore with queryData and prints the
// latency percentiles of the trend queries.
func runQueries(runs, others int) error {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	c, err := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{"shared_buffers": "256MB", "max_wal_size": "4GB"}})
	if err != nil {
		return err
	}
	defer c.Stop()
	db, err := c.CreateDB(ctx)
	if err != nil {
		return err
	}
	clk := clock.NewFake(t0.Add(24 * time.Hour))
	pg, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN, MaxConns: 2, PartitionPeriod: 7 * 24 * time.Hour}, pgstore.WithClock(clk))
	if err != nil {
		return err
	}
	defer pg.Close()
	dir, err := os.MkdirTemp("", "storebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lite, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "samples.db")}, sqlitestore.WithClock(clk))
	if err != nil {
		return err
	}
	defer lite.Close()
	data := queryData(t0, others)
	n := 0
	for _, b := range data {
		n += len(b)
	}
	latestTags := make([]string, 1000)
	for i := range latestTags {
		latestTags[i] = "Other.Tag" + strconv.Itoa(i*others/len(latestTags))
	}
	queries := []struct {
		name string
		run  func(store.Store) error
	}{
		{"Aggregate: one tag, 1 day of 1 Hz (86,400 samples) → 1000 buckets", func(s store.Store) error {
			b, err := s.Aggregate(ctx, "acme", store.AggregateQuery{Tag: "Trend.Day", From: t0, To: t0.Add(24 * time.Hour), Buckets: 1000})
			return check(err == nil && len(b) == 1000 && b[0].Count == 87, "day aggregate", err)
		}},
		{"Aggregate: one tag, 1 year of 1 per minute (525,600 samples) → 1000 buckets", func(s store.Store) error {
			b, err := s.Aggregate(ctx, "acme", store.AggregateQuery{Tag: "Trend.Year", From: t0.Add(-365 * 24 * time.Hour), To: t0, Buckets: 1000})
			return check(err == nil && len(b) == 1000 && b[0].Count > 0, "year aggregate", err)
		}},
		{"LatestOf: 1000 tags", func(s store.Store) error {
			l, err := s.LatestOf(ctx, "acme", latestTags)
			return check(err == nil && len(l) == 1000, "latest", err)
		}},
	}
	fmt.Printf("query latency, %d runs each; %d samples of %d tags in each store (one tag with a day of 1 Hz, one with a year of one a minute, the others one sample each over the day)\n\n", runs, n, others+2)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "store\tquery\tp50 ms\tp99 ms\tmax ms\t")
	for _, st := range []struct {
		name string
		s    store.Store
	}{{"pgstore", pg}, {"sqlitestore", lite}} {
		for i, b := range data {
			if _, err := st.s.WriteBatches(ctx, "acme", []store.Batch{{Source: "bench", Epoch: 1, Seq: uint64(i + 1), Samples: b}}); err != nil {
				return err
			}
		}
		for _, q := range queries {
			if err := q.run(st.s); err != nil { // warm up
				return err
			}
			var d []time.Duration
			for range runs {
				start := time.Now()
				if err := q.run(st.s); err != nil {
					return err
				}
				d = append(d, time.Since(start))
			}
			slices.Sort(d)
			ms := func(x time.Duration) float64 { return x.Seconds() * 1000 }
			fmt.Fprintf(w, "%s\t%s\t%.1f\t%.1f\t%.1f\t\n", st.name, q.name, ms(d[len(d)/2]), ms(d[(len(d)*99+99)/100-1]), ms(d[len(d)-1]))
		}
	}
	return w.Flush()
}

func check(ok bool, what string, detail any) error {
	if !ok {
		return fmt.Errorf("%s: unexpected result %v", what, detail)
	}
	return nil
}
