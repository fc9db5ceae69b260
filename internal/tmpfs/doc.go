// Package tmpfs mounts small tmpfs file systems for kiln's disk-full
// tests: a real file system that really fills, on a fresh directory,
// unmounted when the test ends (after the cleanups the test registered
// later, such as closing a spool on it). It needs root (CAP_SYS_ADMIN);
// without it the test fails, it never skips.
//
//	dir := tmpfs.Mount(t, "4m")
package tmpfs
