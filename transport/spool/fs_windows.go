//go:build windows

package spool

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// SyncDir does nothing: Windows has no fsync of a directory (NTFS
// journals its metadata), and FlushFileBuffers refuses a directory
// handle.
func (osFS) SyncDir(string) error { return nil }

// lockFile takes an exclusive lock on f without waiting, or returns
// errLockHeld when another handle holds one (in this process or
// another). Closing f releases it.
func lockFile(f *os.File) error {
	// The first byte is enough: every spool locks the same one, and the
	// LOCK file is never read or written.
	var ol windows.Overlapped
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLockHeld
	}
	return err
}

func isNoSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}

func isReadOnly(err error) bool { return errors.Is(err, windows.ERROR_WRITE_PROTECT) }
