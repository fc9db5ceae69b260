package agg

import (
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
)

func TestBoundsTileTheRangeWithoutOverflow(t *testing.T) {
	from := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // span·buckets needs more than 64 bits
	f := New(store.AggregateQuery{Tag: "t", From: from, To: to, Buckets: store.MaxBuckets})
	out := f.Buckets()
	if !out[0].From.Equal(from) || !out[len(out)-1].To.Equal(to) {
		t.Fatalf("buckets span %v..%v, want %v..%v", out[0].From, out[len(out)-1].To, from, to)
	}
	for i := 1; i < len(out); i++ {
		if !out[i].From.Equal(out[i-1].To) || !out[i].To.After(out[i].From) {
			t.Fatalf("bucket %d is %v..%v after %v..%v", i, out[i].From, out[i].To, out[i-1].From, out[i-1].To)
		}
		if i%997 == 0 {
			if j := f.index(out[i].From.UnixMicro()); j != i {
				t.Fatalf("the start of bucket %d falls in bucket %d", i, j)
			}
			if j := f.index(out[i].From.UnixMicro() - 1); j != i-1 {
				t.Fatalf("the µs before bucket %d falls in bucket %d", i, j)
			}
		}
	}
}

func TestOfKeepsOnlyNumbersOfUsableQuality(t *testing.T) {
	at := time.Unix(5, 0)
	cases := []struct {
		s    plc.Sample
		v    float64
		ok   bool
		name string
	}{
		{plc.Sample{Value: plc.BoolValue(true), Quality: plc.Good}, 1, true, "bool"},
		{plc.Sample{Value: plc.UintValue(plc.ULInt, 1<<63), Quality: plc.Good}, 1 << 63, true, "uint64"},
		{plc.Sample{Value: plc.IntValue(plc.Int, -4), Quality: plc.Quality{Status: plc.StatusUncertain}}, -4, true, "uncertain"},
		{plc.Sample{Value: plc.FloatValue(plc.Real, 2.5), Quality: plc.Bad(plc.ReasonStale, "")}, 0, false, "bad"},
		{plc.Sample{Value: plc.StringValue("7"), Quality: plc.Good}, 0, false, "string"},
		{plc.Sample{Value: plc.TimeValue(at), Quality: plc.Good}, 0, false, "datetime"},
	}
	for _, c := range cases {
		c.s.Time = at
		p := OfSample(c.s)
		if p.OK != c.ok || (c.ok && p.V != c.v) || p.T != 5_000_000 {
			t.Errorf("%s: %+v, want value %v ok %v at 5 s", c.name, p, c.v, c.ok)
		}
	}
}
