package agg

import (
	"math"
	"math/bits"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/codec"
)

// Point is a sample reduced to what aggregation needs.
type Point struct {
	T   int64   // source time, Unix µs
	V   float64 // the value, when OK
	OK  bool    // in the value statistics: a number, not NaN, quality not bad
	Bad bool    // quality bad
}

// Of returns the Point of a sample in storage form (see codec.Split).
func Of(kind int16, num int64, status plc.Status, micros int64) Point {
	p := Point{T: micros, Bad: status == plc.StatusBad}
	k := plc.Kind(kind)
	switch {
	case k == plc.Bool:
		p.V, p.OK = float64(num&1), true
	case k.IsSigned():
		p.V, p.OK = float64(num), true
	case k.IsUnsigned():
		p.V, p.OK = float64(uint64(num)), true
	case k.IsFloat():
		p.V = codec.Float(num)
		p.OK = !math.IsNaN(p.V)
	}
	p.OK = p.OK && !p.Bad
	return p
}

// OfSample returns the Point of s.
func OfSample(s plc.Sample) Point {
	kind, num, _, _ := codec.Split(s.Value)
	return Of(kind, num, s.Quality.Status, store.Truncate(s.Time).UnixMicro())
}

// Folder accumulates the buckets of one query.
type Folder struct {
	from, to, span int64
	n              int
	out            []store.Bucket
	sum, wsum      []float64
	weight         []int64

	held bool // a value holds from ht on
	hv   float64
	ht   int64
}

// New returns a Folder for q, which must pass store.CheckAggregate.
func New(q store.AggregateQuery) *Folder {
	f := &Folder{from: store.Truncate(q.From).UnixMicro(), to: store.Truncate(q.To).UnixMicro(), n: q.Buckets}
	f.span = f.to - f.from
	f.out = make([]store.Bucket, f.n)
	f.sum = make([]float64, f.n)
	f.wsum = make([]float64, f.n)
	f.weight = make([]int64, f.n)
	for i := range f.out {
		f.out[i].From = time.UnixMicro(f.bound(i)).UTC()
		f.out[i].To = time.UnixMicro(f.bound(i + 1)).UTC()
	}
	return f
}

// Range returns the query's bounds in Unix µs.
func (f *Folder) Range() (from, to int64) { return f.from, f.to }

// bound returns the start of bucket i: from + ⌈span·i/n⌉, in 128 bits.
func (f *Folder) bound(i int) int64 {
	hi, lo := bits.Mul64(uint64(f.span), uint64(i))
	lo, c := bits.Add64(lo, uint64(f.n-1), 0)
	q, _ := bits.Div64(hi+c, lo, uint64(f.n))
	return f.from + int64(q)
}

// index returns the bucket of t, from <= t < to: ⌊(t−from)·n/span⌋.
func (f *Folder) index(t int64) int {
	hi, lo := bits.Mul64(uint64(t-f.from), uint64(f.n))
	q, _ := bits.Div64(hi, lo, uint64(f.span))
	return int(q)
}

// Prior sets the tag's last sample before From, whose value may hold into
// the first buckets.
func (f *Folder) Prior(p Point) {
	f.held, f.hv, f.ht = p.OK, p.V, p.T
}

// Add folds in the next sample; samples come in time order, each with
// From <= T < To.
func (f *Folder) Add(p Point) {
	if f.held {
		f.hold(f.ht, p.T)
	}
	f.held, f.hv, f.ht = p.OK, p.V, p.T
	i := f.index(p.T)
	b := &f.out[i]
	b.Count++
	b.Bad = b.Bad || p.Bad
	if !p.OK {
		return
	}
	t := time.UnixMicro(p.T).UTC()
	if b.Values == 0 {
		b.Min, b.Max, b.First, b.FirstTime = p.V, p.V, p.V, t
	}
	b.Min, b.Max = min(b.Min, p.V), max(b.Max, p.V)
	b.Last, b.LastTime = p.V, t
	b.Values++
	f.sum[i] += p.V
}

// hold adds the held value over [a, b), clipped to [from, to).
func (f *Folder) hold(a, b int64) {
	a, b = max(a, f.from), min(b, f.to)
	if a >= b {
		return
	}
	for i := f.index(a); i < f.n && f.bound(i) < b; i++ {
		lo, hi := max(a, f.bound(i)), min(b, f.bound(i+1))
		if lo < hi {
			f.wsum[i] += f.hv * float64(hi-lo)
			f.weight[i] += hi - lo
		}
	}
}

// Buckets ends the fold and returns the buckets.
func (f *Folder) Buckets() []store.Bucket {
	if f.held {
		f.hold(f.ht, f.to)
		f.held = false
	}
	for i := range f.out {
		b := &f.out[i]
		if b.Values > 0 {
			b.Mean = f.sum[i] / float64(b.Values)
		}
		if f.weight[i] > 0 {
			b.TimeWeighted = f.wsum[i] / float64(f.weight[i])
			b.Weight = time.Duration(f.weight[i]) * store.Resolution
		}
	}
	return f.out
}
