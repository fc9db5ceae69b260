package spool

import (
	"encoding/binary"
	"hash/crc32"
	"os"
)

// The cursor file holds the sequence number of the last acknowledged
// record in two alternating 24-byte slots, each
//
//	generation uint64 | acked seq uint64 | CRC-32C of the 16 bytes before | 4 zero bytes
//
// so that a torn write of one slot leaves the other intact. Open picks
// the valid slot with the higher generation.
const (
	cursorName = "cursor"
	cursorSlot = 24
)

type cursor struct {
	f    file
	path string
	gen  uint64
	buf  [cursorSlot]byte
}

// openCursor opens or creates the cursor file and returns the persisted
// acked sequence number (0 if none).
func openCursor(fs fsys, path string) (*cursor, uint64, error) {
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, &StorageError{"open", path, err}
	}
	c := &cursor{f: f, path: path}
	var raw [2 * cursorSlot]byte
	n, _ := f.ReadAt(raw[:], 0)
	var acked uint64
	for i := 0; i+cursorSlot <= n; i += cursorSlot {
		s := raw[i : i+cursorSlot]
		if crc32.Checksum(s[:16], castagnoli) != binary.LittleEndian.Uint32(s[16:20]) {
			continue
		}
		if g := binary.LittleEndian.Uint64(s[:8]); g > c.gen || (g == c.gen && c.gen == 0) {
			c.gen = g
			acked = binary.LittleEndian.Uint64(s[8:16])
		}
	}
	return c, acked, nil
}

// store writes acked into the older slot and fsyncs it. A failed store
// leaves the generation as it was, so the retry writes the same slot
// again and the other one keeps the last stored cursor.
func (c *cursor) store(acked uint64) error {
	gen := c.gen + 1
	binary.LittleEndian.PutUint64(c.buf[:8], gen)
	binary.LittleEndian.PutUint64(c.buf[8:16], acked)
	binary.LittleEndian.PutUint32(c.buf[16:20], crc32.Checksum(c.buf[:16], castagnoli))
	if _, err := c.f.WriteAt(c.buf[:], int64(gen%2)*cursorSlot); err != nil {
		return &StorageError{"write", c.path, err}
	}
	if err := c.f.Sync(); err != nil {
		return &StorageError{"fsync", c.path, err}
	}
	c.gen = gen
	return nil
}

func (c *cursor) close() error { return c.f.Close() }
