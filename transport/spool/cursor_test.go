package spool

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// storedCursor reads the acked sequence number the cursor file in dir
// holds, as the next Open would.
func storedCursor(t *testing.T, dir string) uint64 {
	t.Helper()
	c, acked, err := openCursor(osFS{}, filepath.Join(dir, cursorName))
	if err != nil {
		t.Fatal(err)
	}
	c.close()
	return acked
}

// checkCursorError checks that err is the failed store of dir's cursor
// file: a *StorageError naming the file and op, matching is if not nil.
func checkCursorError(t *testing.T, err error, dir, op string, is error) {
	t.Helper()
	var se *StorageError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *StorageError", err)
	}
	if se.Path != filepath.Join(dir, cursorName) || se.Op != op || !strings.Contains(err.Error(), cursorName) {
		t.Fatalf("error %q: op %q path %q, want %s of the cursor file", err, se.Op, se.Path, op)
	}
	if is != nil && !errors.Is(err, is) {
		t.Fatalf("error %v does not match %v", err, is)
	}
}

// readN reads n records from r.
func readN(t *testing.T, r *Reader, n int) []Record {
	t.Helper()
	var all []Record
	for len(all) < n {
		recs, err := r.Next(context.Background(), n-len(all))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

var cursorFaults = []struct {
	name   string
	inject func(*faultFS)
	op     string
	is     error
}{
	{"ENOSPC on write", func(f *faultFS) { f.cursorWrite = syscall.ENOSPC }, "write", ErrNoSpace},
	{"EROFS on write", func(f *faultFS) { f.cursorWrite = syscall.EROFS }, "write", ErrReadOnly},
	{"ENOSPC on fsync", func(f *faultFS) { f.cursorSync = syscall.ENOSPC }, "fsync", ErrNoSpace},
	{"EIO on fsync", func(f *faultFS) { f.cursorSync = syscall.EIO }, "fsync", nil},
}

func clearCursorFaults(f *faultFS) { f.cursorWrite, f.cursorSync = nil, nil }

// An Ack whose cursor store fails reports it, keeps the segments the
// stored cursor does not cover, and the store is retried by the next Ack,
// even of the same record.
func TestAckKeepsSegmentsUntilTheCursorIsStored(t *testing.T) {
	for _, tc := range cursorFaults {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			s := mustOpen(t, testConfig(dir), withFS(ffs))
			appendN(t, s, 0, 300) // 99 records per segment
			r, _ := s.OpenReader()
			defer r.Close()
			readN(t, r, 300)
			if err := r.Ack(100); err != nil {
				t.Fatal(err)
			}
			segs := s.Stats().Segments

			ffs.set(tc.inject)
			checkCursorError(t, r.Ack(250), dir, tc.op, tc.is)
			if st := s.Stats(); st.Records != 50 || st.Segments != segs {
				t.Fatalf("after the failed store: %d records, %d segments; want 50, %d", st.Records, st.Segments, segs)
			}
			if tc.op == "write" {
				if c := storedCursor(t, dir); c != 100 {
					t.Fatalf("cursor file holds %d, want 100", c)
				}
			}
			// the same ack again retries the store
			checkCursorError(t, r.Ack(250), dir, tc.op, tc.is)

			ffs.set(clearCursorFaults)
			if err := r.Ack(250); err != nil {
				t.Fatalf("Ack once the fault is gone: %v", err)
			}
			if c := storedCursor(t, dir); c != 250 {
				t.Fatalf("cursor file holds %d, want 250", c)
			}
			if st := s.Stats(); st.Records != 50 || st.Segments >= segs {
				t.Fatalf("after the store: %d records, %d segments; want 50, fewer than %d", st.Records, st.Segments, segs)
			}
			appendN(t, s, 300, 10)
			if got := readN(t, r, 10); got[0].Seq != 301 {
				t.Fatalf("next record after the acks: seq %d, want 301", got[0].Seq)
			}
			if err := r.Ack(310); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, testConfig(dir))
			if st := s.Stats(); st.Records != 0 || st.Segments != 1 {
				t.Fatalf("after reopen: %+v", st)
			}
			if all := readAll(t, s); len(all) != 0 {
				t.Fatalf("read %d acknowledged records again", len(all))
			}
		})
	}
}

// A spool reopened after failed cursor stores delivers again every record
// the cursor file does not cover, and counts none as lost or corrupt.
func TestReopenAfterFailedCursorStoreRedelivers(t *testing.T) {
	for _, tc := range cursorFaults {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			s := mustOpen(t, testConfig(dir), withFS(ffs))
			appendN(t, s, 0, 300)
			r, _ := s.OpenReader()
			readN(t, r, 300)
			if err := r.Ack(100); err != nil {
				t.Fatal(err)
			}
			ffs.set(tc.inject)
			// two failed stores in a row must not overwrite the slot
			// holding the last stored cursor
			checkCursorError(t, r.Ack(250), dir, tc.op, tc.is)
			checkCursorError(t, r.Ack(280), dir, tc.op, tc.is)
			if st := s.Stats(); st.Records != 20 {
				t.Fatalf("after the failed stores: %+v", st)
			}
			s.Close() // the fault stays: Close cannot store the cursor either

			c := storedCursor(t, dir)
			if tc.op == "write" && c != 100 {
				t.Fatalf("cursor file holds %d, want the last stored 100", c)
			}
			if c < 100 || c > 280 {
				t.Fatalf("cursor file holds %d, want 100…280", c)
			}
			s = mustOpen(t, testConfig(dir))
			if st := s.Stats(); st.Records != int64(300-c) {
				t.Fatalf("after reopen: %d records, want %d", st.Records, 300-c)
			}
			checkRecords(t, readAll(t, s), seq(int(c), 300))
			if st := s.Stats(); st.CorruptRecords != 0 || st.CorruptBytes != 0 || st.Records != int64(300-c) {
				t.Fatalf("after reading again: %+v", st)
			}
		})
	}
}

// Close stores a cursor whose store failed earlier.
func TestCloseStoresAPendingCursor(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, testConfig(dir), withFS(ffs))
	appendN(t, s, 0, 300)
	r, _ := s.OpenReader()
	readN(t, r, 300)
	ffs.set(func(f *faultFS) { f.cursorWrite = syscall.ENOSPC })
	checkCursorError(t, r.Ack(250), dir, "write", ErrNoSpace)
	ffs.set(clearCursorFaults)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c := storedCursor(t, dir); c != 250 {
		t.Fatalf("cursor file holds %d, want 250", c)
	}
	s = mustOpen(t, testConfig(dir))
	checkRecords(t, readAll(t, s), seq(250, 300))
}

// Drop-oldest stores the cursor past a segment before deleting it: when
// the store fails, Append fails and nothing is dropped.
func TestDropOldestKeepsSegmentWhenTheCursorFails(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, capConfig(dir, FullDropOldest), withFS(ffs))
	appendN(t, s, 0, 390) // four segments, just under the cap
	ffs.set(func(f *faultFS) { f.cursorWrite = syscall.ENOSPC })
	n := 390
	for ; ; n++ {
		err := s.Append(context.Background(), rec(n))
		if err == nil {
			if n > 400 {
				t.Fatalf("Append %d dropped a segment although the cursor cannot be stored", n)
			}
			continue
		}
		checkCursorError(t, err, dir, "write", ErrNoSpace)
		break
	}
	if st := s.Stats(); st.DroppedRecords != 0 || st.Records != int64(n) || st.WriteErrors != 1 {
		t.Fatalf("after the failed drop: %+v", st)
	}
	s.Close()
	ffs = &faultFS{}
	s = mustOpen(t, capConfig(dir, FullDropOldest), withFS(ffs))
	if st := s.Stats(); st.Records != int64(n) {
		t.Fatalf("after reopen: %d records, want %d", st.Records, n)
	}
	checkRecords(t, readAll(t, s), seq(0, n))
	if st := s.Stats(); st.CorruptRecords != 0 {
		t.Fatalf("after reading again: %+v", st)
	}
	// with the fault gone the drop goes through and is stored
	appendN(t, s, n, 1)
	st := s.Stats()
	if st.DroppedRecords != 99 || st.Records != int64(n+1-99) {
		t.Fatalf("after the drop: %+v", st)
	}
	if c := storedCursor(t, dir); c != 99 {
		t.Fatalf("cursor file holds %d, want 99", c)
	}
}

// A blocked Append whose room waits on a cursor that cannot be stored
// retries the store and, while it fails, returns its error instead of
// waiting for an Ack that may never come.
func TestAppendAtCapRetriesThePendingCursor(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, capConfig(dir, FullBlock), withFS(ffs))
	n := 0
	for ; ; n++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Append(ctx, rec(n)); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Append %d: %v", n, err)
			}
			break
		}
	}
	r, _ := s.OpenReader()
	defer r.Close()
	readN(t, r, n)
	ffs.set(func(f *faultFS) { f.cursorWrite = syscall.ENOSPC })
	checkCursorError(t, r.Ack(uint64(n)), dir, "write", ErrNoSpace)
	checkCursorError(t, s.Append(context.Background(), rec(n)), dir, "write", ErrNoSpace)
	if st := s.Stats(); st.Records != 0 || st.Appended != uint64(n) || st.WriteErrors != 1 {
		t.Fatalf("after the failed Append: %+v", st)
	}
	ffs.set(clearCursorFaults)
	appendN(t, s, n, 1)
	if c := storedCursor(t, dir); c != uint64(n) {
		t.Fatalf("cursor file holds %d, want %d", c, n)
	}
	if got := readN(t, r, 1); string(got[0].Data) != string(rec(n)) {
		t.Fatalf("read %q, want %q", got[0].Data, rec(n))
	}
}
