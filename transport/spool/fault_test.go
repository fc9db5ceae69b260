package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// faultFS injects errors into the file system under a spool. A failing
// write first writes half of its bytes, as a real full disk may.
type faultFS struct {
	osFS
	mu          sync.Mutex
	write       error // WriteAt of segment files
	sync        error // Sync of segment files
	truncate    error
	create      error
	cursorWrite error // WriteAt of the cursor file
	cursorSync  error // Sync of the cursor file
	// cursorSynced is the cursor file's content as of its last fsync (or
	// its opening): what a power loss leaves of it.
	cursorSynced []byte
}

func (f *faultFS) get(p *error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *p
}

func (f *faultFS) set(fn func(*faultFS)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	if flag&os.O_CREATE != 0 && strings.HasSuffix(name, segSuffix) {
		if err := f.get(&f.create); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	fl, err := f.osFS.OpenFile(name, flag, perm)
	switch {
	case err != nil:
		return nil, err
	case strings.HasSuffix(name, segSuffix):
		return &faultFile{file: fl, fs: f, write: &f.write, sync: &f.sync}, nil
	case filepath.Base(name) == cursorName:
		ff := &faultFile{file: fl, fs: f, write: &f.cursorWrite, sync: &f.cursorSync, cursor: true}
		ff.noteSynced()
		return ff, nil
	}
	return fl, nil
}

// powerLoss copies dir as a power loss would leave it, and returns the
// copy: the segment files as they are (their writes and deletions reached
// the disk), the cursor file as of its last fsync (later writes to it are
// lost). The spool in dir must be idle.
func (f *faultFS) powerLoss(t *testing.T, dir string) string {
	t.Helper()
	img := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), segSuffix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	cur := f.cursorSynced
	f.mu.Unlock()
	if err := os.WriteFile(filepath.Join(img, cursorName), cur, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

// faultFile fails its writes and fsyncs with the errors its fields point
// to, the segment ones or the cursor ones.
type faultFile struct {
	file
	fs          *faultFS
	write, sync *error
	cursor      bool // the cursor file: its fsyncs are noted in fs.cursorSynced
}

// noteSynced records the cursor file's content as what survives a power
// loss.
func (f *faultFile) noteSynced() {
	b := make([]byte, 2*cursorSlot)
	n, _ := f.file.ReadAt(b, 0)
	f.fs.mu.Lock()
	f.fs.cursorSynced = b[:n]
	f.fs.mu.Unlock()
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.fs.get(f.write); err != nil {
		n, _ := f.file.WriteAt(b[:len(b)/2], off)
		return n, err
	}
	return f.file.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.get(f.sync); err != nil {
		return err
	}
	if err := f.file.Sync(); err != nil {
		return err
	}
	if f.cursor {
		f.noteSynced()
	}
	return nil
}

func (f *faultFile) Truncate(n int64) error {
	if err := f.fs.get(&f.fs.truncate); err != nil {
		return err
	}
	return f.file.Truncate(n)
}

func TestInjectedStorageErrorsLeaveNoDamage(t *testing.T) {
	cases := []struct {
		name   string
		inject func(*faultFS)
		is     error
	}{
		{"ENOSPC on write", func(f *faultFS) { f.write = syscall.ENOSPC }, ErrNoSpace},
		{"EDQUOT on write", func(f *faultFS) { f.write = syscall.EDQUOT }, ErrNoSpace},
		{"ENOSPC on fsync", func(f *faultFS) { f.sync = syscall.ENOSPC }, ErrNoSpace},
		{"EROFS on write and truncate", func(f *faultFS) { f.write, f.truncate = syscall.EROFS, syscall.EROFS }, ErrReadOnly},
		{"EIO on fsync", func(f *faultFS) { f.sync = syscall.EIO }, nil},
		{"ENOSPC creating a segment", func(f *faultFS) { f.create = syscall.ENOSPC }, ErrNoSpace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			s := mustOpen(t, testConfig(dir), withFS(ffs))
			appendN(t, s, 0, 90) // 90 × 41 bytes: the next appends roll a segment
			ffs.set(tc.inject)
			for i := range 20 {
				err := s.Append(context.Background(), rec(90+i))
				if err == nil {
					if tc.name == "ENOSPC creating a segment" && i < 10 {
						continue // fits the active segment; the roll will fail
					}
					t.Fatalf("Append %d succeeded under fault", i)
				}
				var se *StorageError
				if !errors.As(err, &se) {
					t.Fatalf("error %v is not a *StorageError", err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("error %v does not match %v", err, tc.is)
				}
				break
			}
			stored := int(s.Stats().Records)
			ffs.set(func(f *faultFS) { f.write, f.sync, f.truncate, f.create = nil, nil, nil, nil })
			appendN(t, s, stored, 30) // works again once the cause is gone
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, testConfig(dir))
			all := readAll(t, s)
			if len(all) != stored+30 {
				t.Fatalf("read %d records, want %d", len(all), stored+30)
			}
			for i, r := range all {
				if string(r.Data) != string(rec(i)) {
					t.Fatalf("record %d = %q", i, r.Data)
				}
			}
			if st := s.Stats(); st.CorruptBytes != 0 || st.TruncatedBytes != 0 {
				t.Fatalf("damage after recovery: %+v", st)
			}
		})
	}
}
