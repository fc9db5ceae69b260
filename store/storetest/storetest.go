package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
)

// T0 is the base time of the samples the suite writes.
var T0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// Run runs the conformance tests as subtests of t. open returns an empty
// store and arranges for it to be closed when its test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"ValuesRoundTripFaithfully", testRoundTrip},
		{"SameBatchTwiceLeavesOneRowEach", testSameBatchTwice},
		{"OverlappingBatchesLeaveOneRowEach", testOverlapping},
		{"FirstWriteWins", testFirstWriteWins},
		{"TimesTruncateToResolution", testResolution},
		{"TenantsSeeOnlyTheirOwn", testTenants},
		{"LatestIsNewestPerTag", testLatest},
		{"RangeBoundsLimitAndPaging", testRange},
		{"RedeliveredBatchIsSkippedWhole", testBatchRedelivered},
		{"BatchesOutOfOrderWrittenOnce", testBatchOutOfOrder},
		{"NewEpochWithResetSequenceLosesNothing", testBatchNewEpoch},
		{"SamplesRepeatedInBatchMakeOneRow", testBatchRepeatedSamples},
		{"ConcurrentRedeliveryWritesEachBatchOnce", testBatchConcurrentRedelivery},
		{"InvalidBatchWritesAndRecordsNothing", testBatchInvalid},
		{"LatestOfSelectedTags", testLatestOf},
		{"AggregateBuckets", testAggregate},
		{"AggregateMatchesBruteForce", testAggregateBruteForce},
		{"InvalidSampleFailsWholeBatch", testInvalid},
		{"BadArguments", testBadArguments},
		{"ConcurrentOverlappingWriters", testConcurrent},
		{"ClosedStoreRefuses", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Samples returns n samples of tags tag0..tag<tags-1>, one per tag per
// second from T0, with LREAL values i.
func Samples(n, tags int) []plc.Sample {
	out := make([]plc.Sample, n)
	for i := range out {
		out[i] = plc.Sample{
			Tag:     fmt.Sprintf("tag%d", i%tags),
			Value:   plc.FloatValue(plc.LReal, float64(i)),
			Quality: plc.Good,
			Time:    T0.Add(time.Duration(i/tags) * time.Second),
		}
	}
	return out
}

func write(t *testing.T, s store.Store, tenant string, samples []plc.Sample) store.WriteResult {
	t.Helper()
	res, err := s.Write(context.Background(), tenant, samples)
	if err != nil {
		t.Fatalf("Write(%s, %d samples): %v", tenant, len(samples), err)
	}
	return res
}

func rangeAll(t *testing.T, s store.Store, tenant, tag string) []plc.Sample {
	t.Helper()
	got, err := s.Range(context.Background(), tenant, tag, T0.Add(-time.Hour), T0.Add(240*time.Hour), store.MaxRangeLimit)
	if err != nil {
		t.Fatalf("Range(%s, %s): %v", tenant, tag, err)
	}
	return got
}

// count returns how many samples tenant has over all its tags.
func count(t *testing.T, s store.Store, tenant string) int {
	t.Helper()
	tags, err := s.Tags(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tag := range tags {
		n += len(rangeAll(t, s, tenant, tag))
	}
	return n
}

func same(a, b plc.Sample) bool {
	return a.Tag == b.Tag && a.Value.Kind() == b.Value.Kind() && a.Value.String() == b.Value.String() &&
		math.Signbit(a.Value.Float()) == math.Signbit(b.Value.Float()) &&
		a.Quality == b.Quality && a.Time.Equal(store.Truncate(b.Time))
}

func testRoundTrip(t *testing.T, s store.Store) {
	q := plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: 0x0A, Detail: "object does not exist"}
	values := []plc.Value{
		{}, plc.BoolValue(true), plc.IntValue(plc.SInt, -128), plc.IntValue(plc.LInt, math.MinInt64),
		plc.UintValue(plc.ULInt, math.MaxUint64), plc.UintValue(plc.Word, 0xBEEF), plc.UintValue(plc.Char, 'x'),
		plc.FloatValue(plc.Real, 0.1), plc.FloatValue(plc.LReal, math.Inf(1)), plc.FloatValue(plc.LReal, math.NaN()),
		plc.FloatValue(plc.LReal, math.Copysign(0, -1)), plc.StringValue("Grüße, 'quoted' \\ text"),
		plc.BytesValue([]byte{0, 1, 0xff, 0x80}), plc.TimeValue(T0.Add(123456789)),
	}
	var in []plc.Sample
	for i, v := range values {
		smp := plc.Sample{Tag: "t", Value: v, Quality: plc.Good, Time: T0.Add(time.Duration(i) * time.Second)}
		if i%3 == 0 {
			smp.Quality = q
		}
		in = append(in, smp)
	}
	if res := write(t, s, "acme", in); res.Inserted != len(in) {
		t.Fatalf("Inserted = %d, want %d", res.Inserted, len(in))
	}
	got := rangeAll(t, s, "acme", "t")
	if len(got) != len(in) {
		t.Fatalf("read back %d samples, want %d", len(got), len(in))
	}
	for i := range in {
		if !same(got[i], in[i]) {
			t.Errorf("sample %d: wrote %s %v %v @%v, read %s %v %v @%v", i,
				in[i].Value.Kind(), in[i].Value, in[i].Quality, in[i].Time,
				got[i].Value.Kind(), got[i].Value, got[i].Quality, got[i].Time)
		}
		if got[i].Time.Location() != time.UTC {
			t.Errorf("sample %d: time %v not in UTC", i, got[i].Time)
		}
	}
}

func testSameBatchTwice(t *testing.T, s store.Store) {
	in := Samples(500, 7)
	if res := write(t, s, "acme", in); res.Inserted != 500 || res.Duplicates != 0 {
		t.Fatalf("first write: %+v", res)
	}
	if res := write(t, s, "acme", in); res.Inserted != 0 || res.Duplicates != 500 {
		t.Fatalf("second write: %+v, want all duplicates", res)
	}
	if n := count(t, s, "acme"); n != 500 {
		t.Fatalf("%d rows, want 500", n)
	}
}

func testOverlapping(t *testing.T, s store.Store) {
	all := Samples(1000, 10)
	write(t, s, "acme", all[:600])
	res := write(t, s, "acme", all[400:])
	if res.Inserted != 400 || res.Duplicates != 200 {
		t.Fatalf("overlapping write: %+v, want 400 inserted, 200 duplicates", res)
	}
	if n := count(t, s, "acme"); n != 1000 {
		t.Fatalf("%d rows, want 1000", n)
	}
}

func testFirstWriteWins(t *testing.T, s store.Store) {
	a := plc.Sample{Tag: "t", Value: plc.IntValue(plc.Int, 1), Quality: plc.Good, Time: T0}
	b := a
	b.Value = plc.IntValue(plc.Int, 2)
	c := a
	c.Value = plc.IntValue(plc.Int, 3)
	res := write(t, s, "acme", []plc.Sample{a, b})
	if res.Inserted != 1 || res.Duplicates != 1 {
		t.Fatalf("batch with a repeated key: %+v", res)
	}
	write(t, s, "acme", []plc.Sample{c})
	got := rangeAll(t, s, "acme", "t")
	if len(got) != 1 || got[0].Value.String() != "1" {
		t.Fatalf("got %v, want the first write's value 1 only", got)
	}
}

func testResolution(t *testing.T, s store.Store) {
	a := plc.Sample{Tag: "t", Value: plc.IntValue(plc.Int, 1), Quality: plc.Good, Time: T0.Add(1500 * time.Nanosecond)}
	b := a
	b.Time = T0.Add(1999 * time.Nanosecond)
	res := write(t, s, "acme", []plc.Sample{a, b})
	if res.Inserted != 1 || res.Duplicates != 1 {
		t.Fatalf("two samples in one microsecond: %+v, want one row", res)
	}
	got := rangeAll(t, s, "acme", "t")
	if len(got) != 1 || !got[0].Time.Equal(T0.Add(time.Microsecond)) {
		t.Fatalf("got %v, want one sample at T0+1µs", got)
	}
}

func testTenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, "acme", Samples(30, 3))
	other := Samples(20, 2)
	for i := range other {
		other[i].Tag = "b-" + other[i].Tag
	}
	write(t, s, "globex", other)
	tags, err := s.Tags(ctx, "acme")
	if err != nil || fmt.Sprint(tags) != "[tag0 tag1 tag2]" {
		t.Fatalf("acme's tags = %v, %v", tags, err)
	}
	tags, err = s.Tags(ctx, "globex")
	if err != nil || fmt.Sprint(tags) != "[b-tag0 b-tag1]" {
		t.Fatalf("globex's tags = %v, %v", tags, err)
	}
	if got := rangeAll(t, s, "acme", "b-tag0"); len(got) != 0 {
		t.Fatalf("acme reads globex's tag: %v", got)
	}
	latest, err := s.Latest(ctx, "globex")
	if err != nil || len(latest) != 2 {
		t.Fatalf("globex latest = %v, %v", latest, err)
	}
	tags, err = s.Tags(ctx, "initech")
	if err != nil || len(tags) != 0 {
		t.Fatalf("a tenant without data has tags %v, %v", tags, err)
	}
	// The same key under two tenants is two rows.
	res := write(t, s, "globex", Samples(30, 3))
	if res.Inserted != 30 {
		t.Fatalf("globex writing acme's keys: %+v, want 30 inserted", res)
	}
}

func testLatest(t *testing.T, s store.Store) {
	in := Samples(90, 3) // 30 seconds of tag0..tag2
	// Write newest first to show Latest goes by time, not by order.
	write(t, s, "acme", in[60:])
	write(t, s, "acme", in[:60])
	got, err := s.Latest(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Latest returned %d samples, want 3", len(got))
	}
	for i, smp := range got {
		want := in[87+i]
		if !same(smp, want) {
			t.Errorf("latest %d = %v %v @%v, want %v %v @%v", i, smp.Tag, smp.Value, smp.Time, want.Tag, want.Value, want.Time)
		}
	}
}

func testRange(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, "acme", Samples(100, 1)) // tag0 at T0 .. T0+99s
	got, err := s.Range(ctx, "acme", "tag0", T0.Add(10*time.Second), T0.Add(20*time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || !got[0].Time.Equal(T0.Add(10*time.Second)) || !got[9].Time.Equal(T0.Add(19*time.Second)) {
		t.Fatalf("[10s, 20s) gave %d samples from %v to %v", len(got), first(got), last(got))
	}
	// Page through in fives.
	var pages, total int
	from := T0
	for {
		page, err := s.Range(ctx, "acme", "tag0", from, T0.Add(time.Hour), 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := 1; i < len(page); i++ {
			if !page[i].Time.After(page[i-1].Time) {
				t.Fatalf("page not in time order: %v then %v", page[i-1].Time, page[i].Time)
			}
		}
		pages++
		total += len(page)
		from = page[len(page)-1].Time.Add(store.Resolution)
	}
	if pages != 15 || total != 100 {
		t.Fatalf("paging by 7 gave %d pages, %d samples; want 15, 100", pages, total)
	}
	if got, err := s.Range(ctx, "acme", "nope", T0, T0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("unknown tag: %v, %v", got, err)
	}
}

func first(s []plc.Sample) time.Time {
	if len(s) == 0 {
		return time.Time{}
	}
	return s[0].Time
}

func last(s []plc.Sample) time.Time {
	if len(s) == 0 {
		return time.Time{}
	}
	return s[len(s)-1].Time
}

func testInvalid(t *testing.T, s store.Store) {
	good := Samples(10, 2)
	cases := []struct {
		field string
		edit  func(*plc.Sample)
	}{
		{"Tag", func(p *plc.Sample) { p.Tag = "" }},
		{"Tag", func(p *plc.Sample) { p.Tag = "bad\x00tag" }},
		{"Tag", func(p *plc.Sample) { p.Tag = "\xff\xfe" }},
		{"Time", func(p *plc.Sample) { p.Time = time.Time{} }},
		{"Quality.Detail", func(p *plc.Sample) { p.Quality.Detail = "nul\x00" }},
	}
	for _, tc := range cases {
		batch := append([]plc.Sample(nil), good...)
		tc.edit(&batch[7])
		_, err := s.Write(context.Background(), "acme", batch)
		var se *store.SampleError
		if !errors.As(err, &se) || se.Index != 7 || se.Field != tc.field {
			t.Fatalf("Write with a bad %s: %v, want a *SampleError for sample 7, field %s", tc.field, err, tc.field)
		}
	}
	if n := count(t, s, "acme"); n != 0 {
		t.Fatalf("%d rows stored from failed batches, want none", n)
	}
}

func testBadArguments(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, tenant := range []string{"", "a\nb", "\xff"} {
		if _, err := s.Write(ctx, tenant, Samples(1, 1)); !errors.Is(err, store.ErrNoTenant) {
			t.Errorf("Write for tenant %q: %v, want ErrNoTenant", tenant, err)
		}
		if _, err := s.Latest(ctx, tenant); !errors.Is(err, store.ErrNoTenant) {
			t.Errorf("Latest for tenant %q: %v, want ErrNoTenant", tenant, err)
		}
		if _, err := s.Tags(ctx, tenant); !errors.Is(err, store.ErrNoTenant) {
			t.Errorf("Tags for tenant %q: %v, want ErrNoTenant", tenant, err)
		}
	}
	for _, limit := range []int{0, -1, store.MaxRangeLimit + 1} {
		if _, err := s.Range(ctx, "acme", "t", T0, T0.Add(time.Hour), limit); !errors.Is(err, store.ErrLimit) {
			t.Errorf("Range with limit %d: %v, want ErrLimit", limit, err)
		}
	}
	if _, err := s.Range(ctx, "acme", "", T0, T0.Add(time.Hour), 10); !errors.Is(err, store.ErrNoTag) {
		t.Errorf("Range of an empty tag: %v, want ErrNoTag", err)
	}
	if res, err := s.Write(ctx, "acme", nil); err != nil || res != (store.WriteResult{}) {
		t.Errorf("empty Write: %+v, %v", res, err)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	all := Samples(2200, 20)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	inserted := make(chan int, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Each writer covers half of the samples, overlapping the others.
			lo := w * 400
			for i := lo; i < lo+1000; i += 250 {
				res, err := s.Write(context.Background(), "acme", all[i:i+250])
				if err != nil {
					errs <- err
					return
				}
				inserted <- res.Inserted
			}
		}(w)
	}
	go func() { wg.Wait(); close(errs); close(inserted) }()
	sum := 0
	for n := range inserted {
		sum += n
	}
	for err := range errs {
		t.Fatal(err)
	}
	const want = 2200 // the writers together cover all samples
	if n := count(t, s, "acme"); n != want || sum != want {
		t.Fatalf("%d rows, %d reported inserted; want %d", n, sum, want)
	}
}

func testClosed(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Write(ctx, "acme", Samples(1, 1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Latest(ctx, "acme"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Latest after Close: %v, want ErrClosed", err)
	}
}
