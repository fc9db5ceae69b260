package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
)

func testLatestOf(t *testing.T, s store.Store) {
	ctx := context.Background()
	in := Samples(90, 3) // 30 seconds of tag0..tag2
	write(t, s, "acme", in[60:])
	write(t, s, "acme", in[:60])
	write(t, s, "globex", []plc.Sample{{Tag: "tag1", Value: plc.IntValue(plc.Int, 7), Quality: plc.Good, Time: T0.Add(time.Hour)}})
	got, err := s.LatestOf(ctx, "acme", []string{"tag2", "nope", "tag0", "tag2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !same(got[0], in[87]) || !same(got[1], in[89]) {
		t.Fatalf("LatestOf(tag2, nope, tag0, tag2) = %v, want the newest of tag0 and tag2, in that order", got)
	}
	// globex's newer tag1 is not acme's.
	if got, err := s.LatestOf(ctx, "acme", []string{"tag1"}); err != nil || len(got) != 1 || !same(got[0], in[88]) {
		t.Fatalf("LatestOf(tag1) = %v, %v; want acme's own newest", got, err)
	}
	if got, err := s.LatestOf(ctx, "initech", []string{"tag1"}); err != nil || len(got) != 0 {
		t.Fatalf("LatestOf for a tenant without data = %v, %v", got, err)
	}
	if got, err := s.LatestOf(ctx, "acme", nil); err != nil || len(got) != 0 {
		t.Fatalf("LatestOf of no tags = %v, %v", got, err)
	}
	if _, err := s.LatestOf(ctx, "", []string{"a"}); !errors.Is(err, store.ErrNoTenant) {
		t.Errorf("LatestOf without tenant: %v, want ErrNoTenant", err)
	}
	if _, err := s.LatestOf(ctx, "acme", []string{"a", ""}); !errors.Is(err, store.ErrNoTag) {
		t.Errorf("LatestOf with an empty tag: %v, want ErrNoTag", err)
	}
	if _, err := s.LatestOf(ctx, "acme", make([]string, store.MaxLatestTags+1)); !errors.Is(err, store.ErrTooManyTags) {
		t.Errorf("LatestOf of too many tags: %v, want ErrTooManyTags", err)
	}
}

func testAggregate(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := func(sec int) time.Time { return T0.Add(time.Duration(sec) * time.Second) }
	f := func(sec int, v float64) plc.Sample {
		return plc.Sample{Tag: "t", Value: plc.FloatValue(plc.LReal, v), Quality: plc.Good, Time: at(sec)}
	}
	bad := plc.Sample{Tag: "t", Quality: plc.Bad(plc.ReasonCommFailure, "timeout"), Time: at(25)}
	write(t, s, "acme", []plc.Sample{f(-5, 100), f(2, 1), f(4, 3), f(12, -2), bad, f(30, 5)})
	// [0,10) [10,20) [20,30) [30,40)
	got, err := s.Aggregate(ctx, "acme", store.AggregateQuery{Tag: "t", From: at(0), To: at(40), Buckets: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d buckets, want 4", len(got))
	}
	b := got[0]
	// 100 holds for 2 s, 1 for 2 s, 3 for 6 s.
	if !b.From.Equal(at(0)) || !b.To.Equal(at(10)) || b.Count != 2 || b.Values != 2 || b.Bad ||
		b.Min != 1 || b.Max != 3 || b.First != 1 || b.Last != 3 || !b.FirstTime.Equal(at(2)) || !b.LastTime.Equal(at(4)) ||
		b.Mean != 2 || b.Weight != 10*time.Second || math.Abs(b.TimeWeighted-(200+2+18)/10.0) > 1e-12 {
		t.Errorf("bucket 0 = %+v", b)
	}
	if b := got[1]; b.Count != 1 || b.Min != -2 || b.Max != -2 || b.TimeWeighted != -1 || b.Weight != 10*time.Second {
		t.Errorf("bucket 1 = %+v, want one sample -2 and 3 held 2 s", b)
	}
	// The bad sample at 25 s ends -2's hold: 5 s known, nothing in the statistics.
	if b := got[2]; b.Count != 1 || !b.Bad || b.Values != 0 || b.Weight != 5*time.Second || b.TimeWeighted != -2 {
		t.Errorf("bucket 2 = %+v, want one bad sample, -2 held 5 s", b)
	}
	if b := got[3]; b.Count != 1 || b.Bad || b.Mean != 5 || b.Weight != 10*time.Second || b.TimeWeighted != 5 {
		t.Errorf("bucket 3 = %+v, want 5 held to the end", b)
	}
	if got, err := s.Aggregate(ctx, "globex", store.AggregateQuery{Tag: "t", From: at(0), To: at(40), Buckets: 2}); err != nil || got[0].Count != 0 || got[1].Weight != 0 {
		t.Errorf("another tenant's aggregate of t = %+v, %v; want empty buckets", got, err)
	}
	for _, q := range []store.AggregateQuery{
		{Tag: "t", From: at(0), To: at(1), Buckets: 0},
		{Tag: "t", From: at(0), To: at(0).Add(5 * time.Microsecond), Buckets: 6},
		{Tag: "t", From: at(1), To: at(0), Buckets: 1},
		{Tag: "t", From: at(0), To: at(1000), Buckets: store.MaxBuckets + 1},
	} {
		if _, err := s.Aggregate(ctx, "acme", q); !errors.Is(err, store.ErrBuckets) {
			t.Errorf("Aggregate(%d buckets over %v): %v, want ErrBuckets", q.Buckets, q.To.Sub(q.From), err)
		}
	}
	if _, err := s.Aggregate(ctx, "acme", store.AggregateQuery{From: at(0), To: at(1), Buckets: 1}); !errors.Is(err, store.ErrNoTag) {
		t.Errorf("Aggregate without tag: %v, want ErrNoTag", err)
	}
}

// testAggregateBruteForce checks Aggregate against a direct computation
// from the definitions, over random samples of mixed kinds and qualities
// and random ranges and bucket counts.
func testAggregateBruteForce(t *testing.T, s store.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(14, 1))
	for round := range 8 {
		tag := fmt.Sprintf("r%d", round)
		var in []plc.Sample
		seen := map[int64]bool{}
		for range 50 + rng.IntN(300) {
			us := rng.Int64N(int64(3 * time.Hour / time.Microsecond))
			if rng.IntN(4) == 0 {
				us -= us % 1_000_000 // some on whole seconds, near bucket edges
			}
			if seen[us] {
				continue
			}
			seen[us] = true
			smp := plc.Sample{Tag: tag, Quality: plc.Good, Time: T0.Add(time.Duration(us) * time.Microsecond)}
			switch rng.IntN(10) {
			case 0:
				smp.Value = plc.StringValue("text")
			case 1:
				smp.Value = plc.BoolValue(rng.IntN(2) == 1)
			case 2:
				smp.Value = plc.IntValue(plc.DInt, rng.Int64N(2000)-1000)
			case 3:
				smp.Value = plc.FloatValue(plc.LReal, math.NaN())
			default:
				smp.Value = plc.FloatValue(plc.LReal, rng.NormFloat64()*100)
			}
			switch rng.IntN(8) {
			case 0:
				smp.Quality = plc.Bad(plc.ReasonCommFailure, "")
			case 1:
				smp.Quality = plc.Quality{Status: plc.StatusUncertain, Reason: plc.ReasonStale}
			}
			in = append(in, smp)
		}
		write(t, s, "acme", in)
		write(t, s, "acme", []plc.Sample{{Tag: tag + "-other", Value: plc.IntValue(plc.Int, 1), Quality: plc.Good, Time: T0}})
		sort.Slice(in, func(i, j int) bool { return in[i].Time.Before(in[j].Time) })
		for range 5 {
			from := T0.Add(time.Duration(rng.Int64N(int64(2*time.Hour))) - 30*time.Minute).Truncate(time.Millisecond)
			q := store.AggregateQuery{Tag: tag, From: from, To: from.Add(time.Second + time.Duration(rng.Int64N(int64(2*time.Hour)))), Buckets: 1 + rng.IntN(40)}
			got, err := s.Aggregate(ctx, "acme", q)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForce(in, q)
			if len(got) != len(want) {
				t.Fatalf("%s: %d buckets, want %d", tag, len(got), len(want))
			}
			for i := range want {
				if !sameBucket(got[i], want[i]) {
					t.Fatalf("%s, query %v..%v in %d, bucket %d:\n got %+v\nwant %+v", tag, q.From, q.To, q.Buckets, i, got[i], want[i])
				}
			}
		}
	}
}

func sameBucket(a, b store.Bucket) bool {
	close := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y)) }
	return a.From.Equal(b.From) && a.To.Equal(b.To) && a.Count == b.Count && a.Bad == b.Bad && a.Values == b.Values &&
		a.Min == b.Min && a.Max == b.Max && a.First == b.First && a.Last == b.Last &&
		a.FirstTime.Equal(b.FirstTime) && a.LastTime.Equal(b.LastTime) &&
		close(a.Mean, b.Mean) && close(a.TimeWeighted, b.TimeWeighted) && a.Weight == b.Weight
}

// number is the definition of a sample in the value statistics.
func number(s plc.Sample) (float64, bool) {
	if s.Quality.Status == plc.StatusBad {
		return 0, false
	}
	v := s.Value
	switch k := v.Kind(); {
	case k == plc.Bool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	case k.IsSigned():
		i, _ := v.Int()
		return float64(i), true
	case k.IsUnsigned():
		u, _ := v.Uint()
		return float64(u), true
	case k.IsFloat():
		return v.Float(), !math.IsNaN(v.Float())
	}
	return 0, false
}

// bruteForce computes every bucket on its own from all samples (sorted
// by time).
func bruteForce(in []plc.Sample, q store.AggregateQuery) []store.Bucket {
	from, to := store.Truncate(q.From).UnixMicro(), store.Truncate(q.To).UnixMicro()
	d, n := to-from, int64(q.Buckets)
	out := make([]store.Bucket, q.Buckets)
	for i := range out {
		// Ranges here are short enough for d·n to fit in 64 bits.
		lo, hi := from+(d*int64(i)+n-1)/n, from+(d*int64(i+1)+n-1)/n
		b := store.Bucket{From: time.UnixMicro(lo).UTC(), To: time.UnixMicro(hi).UTC()}
		var sum, wsum float64
		var weight int64
		for k, smp := range in {
			ts := store.Truncate(smp.Time).UnixMicro()
			v, ok := number(smp)
			if ts >= lo && ts < hi {
				b.Count++
				b.Bad = b.Bad || smp.Quality.Status == plc.StatusBad
				if ok {
					if b.Values == 0 || v < b.Min {
						b.Min = v
					}
					if b.Values == 0 || v > b.Max {
						b.Max = v
					}
					if b.Values == 0 {
						b.First, b.FirstTime = v, time.UnixMicro(ts).UTC()
					}
					b.Last, b.LastTime = v, time.UnixMicro(ts).UTC()
					b.Values++
					sum += v
				}
			}
			if !ok {
				continue
			}
			end := to
			if k+1 < len(in) {
				end = store.Truncate(in[k+1].Time).UnixMicro()
			}
			a, e := max(ts, lo), min(end, hi)
			if a < e {
				wsum += v * float64(e-a)
				weight += e - a
			}
		}
		if b.Values > 0 {
			b.Mean = sum / float64(b.Values)
		}
		if weight > 0 {
			b.TimeWeighted, b.Weight = wsum/float64(weight), time.Duration(weight)*store.Resolution
		}
		out[i] = b
	}
	return out
}
