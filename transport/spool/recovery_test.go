package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// segFiles returns the spool's segment files, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func checkRecords(t *testing.T, got []Record, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if string(got[i].Data) != string(rec(w)) {
			t.Fatalf("record %d = %q, want %q", i, got[i].Data, rec(w))
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestTornTailTruncatedAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	s := mustOpen(t, Config{Dir: src, SegmentBytes: 1 << 20, MaxBytes: 4 << 20})
	appendN(t, s, 0, 10)
	s.Close()
	seg := segFiles(t, src)[0]
	fi, _ := os.Stat(seg)
	size := fi.Size()
	last := size - int64(frameHeader+len(rec(9)))
	for cut := last; cut < size; cut++ {
		dir := copyDir(t, src)
		if err := os.Truncate(filepath.Join(dir, filepath.Base(seg)), cut); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, Config{Dir: dir, SegmentBytes: 1 << 20, MaxBytes: 4 << 20})
		st := s.Stats()
		if st.TruncatedBytes != uint64(cut-last) || st.CorruptBytes != 0 || st.Records != 9 {
			t.Fatalf("cut at %d: %+v", cut, st)
		}
		// the spool goes on from the truncated end
		appendN(t, s, 9, 2)
		checkRecords(t, readAll(t, s), seq(0, 11))
		if st := s.Stats(); st.CorruptBytes != 0 {
			t.Fatalf("cut at %d: corruption after append: %+v", cut, st)
		}
		s.Close()
	}
}

func TestCorruptMiddleRecordSkippedAndCounted(t *testing.T) {
	src := t.TempDir()
	cfg := Config{Dir: src, SegmentBytes: 1 << 20, MaxBytes: 4 << 20}
	s := mustOpen(t, cfg)
	appendN(t, s, 0, 10)
	s.Close()
	seg := filepath.Base(segFiles(t, src)[0])
	frame := int64(frameHeader + len(rec(0)))
	// flip each byte of record 4 in turn: magic, length, CRC, seq, time, payload
	for i := range frame {
		dir := copyDir(t, src)
		path := filepath.Join(dir, seg)
		b, _ := os.ReadFile(path)
		b[4*frame+i] ^= 0x5A
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.Dir = dir
		s := mustOpen(t, cfg)
		got := readAll(t, s)
		want := append(seq(0, 4), seq(5, 10)...)
		checkRecords(t, got[:len(want)], want)
		if st := s.Stats(); st.CorruptBytes != uint64(frame) || st.CorruptRecords != 1 || st.Records != 9 {
			t.Fatalf("byte %d flipped: corrupt bytes %d (want %d), corrupt records %d (want 1), depth %d (want 9)",
				i, st.CorruptBytes, frame, st.CorruptRecords, st.Records)
		}
		s.Close()
	}
}

func TestCorruptionInSealedSegmentSkipped(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testConfig(dir))
	appendN(t, s, 0, 300)
	s.Close()
	files := segFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments", len(files))
	}
	// garbage over the tail of the first (sealed) segment
	b, _ := os.ReadFile(files[0])
	for i := len(b) - 30; i < len(b); i++ {
		b[i] = 0xEE
	}
	os.WriteFile(files[0], b, 0o644)
	s = mustOpen(t, testConfig(dir))
	got := readAll(t, s)
	if len(got) != 299 {
		t.Fatalf("read %d records, want 299", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("order broken at %d", i)
		}
	}
	if st := s.Stats(); st.CorruptBytes != uint64(frameHeader+len(rec(0))) || st.CorruptRecords != 1 || st.Records != 299 {
		t.Fatalf("stats: %+v", st)
	}
	// acknowledged past the lost record, the depth is zero
	r, err := s.OpenReader()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(got); {
		recs, err := r.Next(context.Background(), len(got))
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	if st := s.Stats(); st.CorruptRecords != 1 {
		t.Fatalf("read again: lost record counted twice: %+v", st)
	}
	if err := r.Ack(got[len(got)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 0 || st.CorruptRecords != 1 {
		t.Fatalf("after the ack: %+v", st)
	}
}

func TestCursorSurvivesTornSlot(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testConfig(dir))
	appendN(t, s, 0, 10)
	r, _ := s.OpenReader()
	recs, _ := r.Next(context.Background(), 10)
	r.Ack(recs[3].Seq) // generation 1, slot 1
	r.Ack(recs[6].Seq) // generation 2, slot 0
	s.Close()
	// tear the newest slot: the older one still holds an earlier ack
	path := filepath.Join(dir, cursorName)
	b, _ := os.ReadFile(path)
	b[5] ^= 0xFF
	os.WriteFile(path, b, 0o644)
	s = mustOpen(t, testConfig(dir))
	checkRecords(t, readAll(t, s), seq(4, 10))
}
