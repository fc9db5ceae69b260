package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/sqlitestore"
)

// Writing the same batch twice stores it once: the second time it is
// known by its identity and skipped whole.
func Example() {
	dir, _ := os.MkdirTemp("", "kiln-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	var s store.Store
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "samples.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	batch := []plc.Sample{
		{Tag: "Line1.Temp", Value: plc.FloatValue(plc.Real, 71.5), Quality: plc.Good, Time: t0},
		{Tag: "Line1.Temp", Value: plc.FloatValue(plc.Real, 72), Quality: plc.Good, Time: t0.Add(time.Second)},
		{Tag: "Line1.Run", Value: plc.BoolValue(true), Quality: plc.Good, Time: t0},
	}
	b := store.Batch{Source: "gw-hamburg-01", Epoch: 0x5eed, Seq: 1, Samples: batch}
	first, _ := s.WriteBatches(ctx, "acme", []store.Batch{b})
	again, _ := s.WriteBatches(ctx, "acme", []store.Batch{b})
	fmt.Printf("first: %+v\nagain: %+v\n", first, again)

	latest, _ := s.Latest(ctx, "acme")
	for _, smp := range latest {
		fmt.Println(smp.Tag, smp.Value, smp.Quality, smp.Time.Format(time.TimeOnly))
	}
	// Output:
	// first: {Inserted:3 Duplicates:0 Expired:0 Redelivered:0}
	// again: {Inserted:0 Duplicates:0 Expired:0 Redelivered:3}
	// Line1.Run true good 08:00:00
	// Line1.Temp 72 good 08:00:01
}

// A trend of one tag: four buckets of ten seconds.
func ExampleReader_Aggregate() {
	dir, _ := os.MkdirTemp("", "kiln-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "samples.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	var batch []plc.Sample
	for i := range 40 {
		q := plc.Good
		if i == 25 {
			q = plc.Bad(plc.ReasonCommFailure, "timeout")
		}
		batch = append(batch, plc.Sample{Tag: "Line1.Temp", Value: plc.FloatValue(plc.LReal, float64(i%7)), Quality: q, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	if _, err := s.Write(ctx, "acme", batch); err != nil {
		fmt.Println(err)
		return
	}
	buckets, err := s.Aggregate(ctx, "acme", store.AggregateQuery{Tag: "Line1.Temp", From: t0, To: t0.Add(40 * time.Second), Buckets: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range buckets {
		fmt.Printf("%s n=%d bad=%v min=%g max=%g mean=%.2f\n", b.From.Format(time.TimeOnly), b.Count, b.Bad, b.Min, b.Max, b.Mean)
	}
	// Output:
	// 08:00:00 n=10 bad=false min=0 max=6 mean=2.40
	// 08:00:10 n=10 bad=false min=0 max=6 mean=3.30
	// 08:00:20 n=10 bad=true min=0 max=6 mean=2.67
	// 08:00:30 n=10 bad=false min=0 max=6 mean=3.00
}
