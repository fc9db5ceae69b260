package spool

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// testConfig is a small spool for tests.
func testConfig(dir string) Config {
	return Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 1 << 20}
}

func mustOpen(t testing.TB, cfg Config, opts ...Option) *Spool {
	t.Helper()
	s, err := Open(cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(i int) []byte { return fmt.Appendf(nil, "record-%06d", i) }

func appendN(t testing.TB, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(context.Background(), rec(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// readAll reads every available record without acknowledging it.
func readAll(t testing.TB, s *Spool) []Record {
	t.Helper()
	r, err := s.OpenReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Next returns what is available even with a done context, and the
	// context's error once nothing is.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var all []Record
	for {
		recs, err := r.Next(done, 100)
		if err == context.Canceled {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
}

func TestAppendReadAckAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testConfig(dir))
	appendN(t, s, 0, 500) // many segments of 4 KiB
	if st := s.Stats(); st.Records != 500 || st.Segments < 5 {
		t.Fatalf("stats after append: %+v", st)
	}
	r, err := s.OpenReader()
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Next(context.Background(), 300)
	if err != nil || len(got) != 300 {
		t.Fatalf("Next: %d records, %v", len(got), err)
	}
	for i, g := range got {
		if string(g.Data) != string(rec(i)) || g.Seq != uint64(i+1) {
			t.Fatalf("record %d: seq %d %q", i, g.Seq, g.Data)
		}
	}
	if err := r.Ack(got[199].Seq); err != nil {
		t.Fatal(err)
	}
	segsBefore := s.Stats().Segments
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, testConfig(dir))
	st := s.Stats()
	if st.Records != 300 {
		t.Fatalf("records after reopen = %d, want 300", st.Records)
	}
	if st.Segments >= segsBefore+1 {
		t.Fatalf("acked segments not deleted: %d before, %d after", segsBefore, st.Segments)
	}
	all := readAll(t, s)
	if len(all) != 300 || string(all[0].Data) != string(rec(200)) || string(all[299].Data) != string(rec(499)) {
		t.Fatalf("after reopen read %d records, first %q", len(all), all[0].Data)
	}
}

func TestStatsAfterReaderLeftADeletedSegment(t *testing.T) {
	s := mustOpen(t, testConfig(t.TempDir()))
	appendN(t, s, 0, 100) // segment 1 holds 99 records
	r, _ := s.OpenReader()
	defer r.Close()
	recs, _ := r.Next(context.Background(), 99)
	appendN(t, s, 100, 10)
	if err := r.Ack(recs[98].Seq); err != nil { // segment 1 is deleted under the reader
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Records != 11 || st.Bytes != 11*int64(frameHeader+len(rec(0))) || st.Oldest.IsZero() {
		t.Fatalf("stats: %+v", st)
	}
}
