package console

import (
	"math"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// Aggregate puts samples (oldest first) into n equal buckets between
// from and to, with the count, the bad count, and min, max, mean and last
// of the good numeric values (BOOL as 0 and 1); samples outside the span
// are left out. A Backend whose store has no aggregate query uses it on
// raw samples.
func Aggregate(ss []plc.Sample, from, to time.Time, n int) []Bucket {
	width := to.Sub(from) / time.Duration(n)
	if width <= 0 {
		width = 1
	}
	out := make([]Bucket, n)
	good := make([]int, n)
	for i := range out {
		out[i].Start = from.Add(time.Duration(i) * width)
		out[i].End = out[i].Start.Add(width)
		out[i].Min, out[i].Max = math.NaN(), math.NaN()
	}
	for _, s := range ss {
		k := int(s.Time.Sub(from) / width)
		if k < 0 || k >= n {
			continue
		}
		bk := &out[k]
		bk.Count++
		if !s.Quality.IsGood() || !s.Value.Kind().IsNumeric() {
			if !s.Quality.IsGood() {
				bk.Bad++
			}
			if s.Value.Kind() != plc.Bool {
				continue
			}
		}
		f := s.Value.Float()
		if s.Value.Kind() == plc.Bool {
			f = 0
			if s.Value.Bool() {
				f = 1
			}
		}
		if good[k] == 0 || f < bk.Min {
			bk.Min = f
		}
		if good[k] == 0 || f > bk.Max {
			bk.Max = f
		}
		bk.Mean += (f - bk.Mean) / float64(good[k]+1)
		bk.Last = f
		good[k]++
	}
	return out
}
