//go:build linux

package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestTheFileSystemFillsAtItsSize(t *testing.T) {
	dir := Mount(t, "64k")
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	written := 0
	for written < 1<<20 {
		n, err := f.Write(buf)
		written += n
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write: %v, want ENOSPC", err)
			}
			break
		}
	}
	if written > 64<<10 {
		t.Errorf("wrote %d bytes on a 64 KiB tmpfs", written)
	}
}
