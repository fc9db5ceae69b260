package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppend appends 200-byte records in batches with an fsync per
// batch (SyncBatch), beside a plain write+fsync of the same payload bytes
// per batch. cmd/spoolbench prints the same comparison as a table.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		recs := make([][]byte, batch)
		var plain []byte
		for i := range recs {
			recs[i] = make([]byte, 200)
			plain = append(plain, recs[i]...)
		}
		b.Run(fmt.Sprintf("batch=%d/spool", batch), func(b *testing.B) {
			s, err := Open(Config{Dir: b.TempDir(), MaxBytes: 8 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				if err := s.Append(context.Background(), recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(fmt.Sprintf("batch=%d/plain", batch), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				if _, err := f.Write(plain); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRecover times Open of a 64 MiB spool of 200-byte records
// (cmd/spoolbench times 1 GiB).
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Config{Dir: dir, Sync: SyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([][]byte, 1024)
	for i := range recs {
		recs[i] = make([]byte, 200)
	}
	for s.Stats().Bytes < 64<<20 {
		if err := s.Append(context.Background(), recs...); err != nil {
			b.Fatal(err)
		}
	}
	size := s.Stats().Bytes
	s.Close()
	b.SetBytes(size)
	for b.Loop() {
		s, err := Open(Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
