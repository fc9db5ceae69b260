package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecoverSegment opens a spool whose only segment holds arbitrary
// bytes: Open must recover without panicking, hand out only verified
// records in sequence order, and go on appending after them.
func FuzzRecoverSegment(f *testing.F) {
	var valid []byte
	for i := range 3 {
		valid = appendFrame(valid, uint64(i+1), 1_700_000_000_000_000_000, rec(i))
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(append(append([]byte(nil), valid[:40]...), valid...))
	f.Add([]byte(frameMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001"+segSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(testConfig(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Append(context.Background(), []byte("after")); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s)
		if len(got) == 0 || string(got[len(got)-1].Data) != "after" {
			t.Fatalf("appended record not read back last: %d records", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("sequence numbers out of order: %d after %d", got[i].Seq, got[i-1].Seq)
			}
		}
	})
}
