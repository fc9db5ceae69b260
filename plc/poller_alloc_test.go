package plc

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

// countingDriver is a minimal Driver whose reads change every value, so
// every scan reports every tag.
type countingDriver struct{ n int64 }

func (d *countingDriver) Prepare(tags []Tag) (Reader, error) { return &countingReader{d: d}, nil }
func (d *countingDriver) Write(context.Context, []WriteItem) []error {
	return nil
}
func (d *countingDriver) Close() error { return nil }

type countingReader struct{ d *countingDriver }

func (r *countingReader) Read(_ context.Context, out []Sample) error {
	r.d.n++
	for i := range out {
		out[i].Value = IntValue(Int, r.d.n)
		out[i].Quality = Good
	}
	return nil
}

// TestPollerScanDoesNotAllocate pins the hot path: a scan of a device's
// part of a group that reads, scales, applies deadbands, reports every tag
// and publishes the latest values makes no allocation.
func TestPollerScanDoesNotAllocate(t *testing.T) {
	db := &PointDB{Devices: []Device{{Name: "d"}, {Name: "e"}}}
	for i := range 1000 {
		tag := Tag{Name: "t" + strconv.Itoa(i), Device: "d", Address: "x", Type: TypeInt}
		if i%3 == 0 {
			tag.Device = "e"
		}
		if i%2 == 0 {
			tag.Scaling = &Scaling{RawMin: 0, RawMax: 100, EngMin: 0, EngMax: 1}
			tag.Deadband = Deadband{Mode: DeadbandAbsolute, Value: 0.001}
		}
		db.Tags = append(db.Tags, tag)
	}
	var emitted int
	sink := SinkFunc(func(_ context.Context, s []Sample) error { emitted += len(s); return nil })
	p, err := NewPoller(db, map[string]Driver{"d": &countingDriver{}, "e": &countingDriver{}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	parts := p.groups[0].parts
	if len(parts) != 2 {
		t.Fatalf("%d parts, want one per device", len(parts))
	}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		for _, pt := range parts {
			if err := p.scan(ctx, pt); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("a scan of %d tags made %v allocations", len(db.Tags), allocs)
	}
	if emitted != 101*len(db.Tags) {
		t.Fatalf("emitted %d samples, want every tag every scan (%d)", emitted, 101*len(db.Tags))
	}
}

// TestPollerMaxBatch checks WithPollerMaxBatch: one tick's reports come
// in batches of at most n, together every tag once, and the batch buffer
// is n samples, not one per tag.
func TestPollerMaxBatch(t *testing.T) {
	db := &PointDB{Devices: []Device{{Name: "d"}}}
	for i := range 1000 {
		db.Tags = append(db.Tags, Tag{Name: "t" + strconv.Itoa(i), Device: "d", Address: "x", Type: TypeInt})
	}
	var sizes []int
	seen := map[string]int{}
	sink := SinkFunc(func(_ context.Context, s []Sample) error {
		sizes = append(sizes, len(s))
		for _, x := range s {
			seen[x.Tag]++
		}
		return nil
	})
	p, err := NewPoller(db, map[string]Driver{"d": &countingDriver{}}, sink, WithPollerMaxBatch(300))
	if err != nil {
		t.Fatal(err)
	}
	if c := cap(p.groups[0].parts[0].out); c != 300 {
		t.Fatalf("batch buffer holds %d samples, want 300", c)
	}
	if err := p.scan(context.Background(), p.groups[0].parts[0]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{300, 300, 300, 100}) {
		t.Fatalf("batch sizes %v, want [300 300 300 100]", sizes)
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct tags reported, want 1000", len(seen))
	}
	if s, ok := p.Latest("t999"); !ok || !s.Quality.IsGood() {
		t.Fatalf("Latest(t999) = %v, %v", s, ok)
	}
}
