package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// A record on disk is a frame:
//
//	offset size field
//	0      4    magic "KSP1"
//	4      4    payload length n (little endian)
//	8      4    CRC-32C of bytes 4..8 and 12..28+n
//	12     8    sequence number
//	20     8    append time, Unix nanoseconds
//	28     n    payload
const (
	frameHeader = 28
	frameMagic  = "KSP1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame of one record to dst.
func appendFrame(dst []byte, seq uint64, unixNano int64, data []byte) []byte {
	start := len(dst)
	dst = append(dst, frameMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixNano))
	dst = append(dst, data...)
	f := dst[start:]
	crc := crc32.Update(crc32.Checksum(f[4:8], castagnoli), castagnoli, f[12:])
	binary.LittleEndian.PutUint32(f[8:12], crc)
	return dst
}

// frame is a decoded frame; data aliases the scanner's buffer.
type frame struct {
	off  int64 // offset of the frame in its segment
	seq  uint64
	time int64
	data []byte
}

func (f frame) size() int64 { return frameHeader + int64(len(f.data)) }

// checkFrame validates the frame at the start of b, returning its payload
// length, or -1 if b does not start with a valid frame whose sequence
// number is above after.
func checkFrame(b []byte, after uint64) int {
	if len(b) < frameHeader || string(b[:4]) != frameMagic {
		return -1
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if uint64(n) > uint64(len(b)-frameHeader) {
		return -1
	}
	crc := crc32.Update(crc32.Checksum(b[4:8], castagnoli), castagnoli, b[12:frameHeader+int(n)])
	if crc != binary.LittleEndian.Uint32(b[8:12]) {
		return -1
	}
	if binary.LittleEndian.Uint64(b[12:20]) <= after {
		return -1
	}
	return int(n)
}

// errTail is returned by scanner.next when the bytes from the current
// offset to the limit hold no valid frame: a torn tail when they are at a
// file's end.
var errTail = errors.New("spool: no valid frame before the end")

// scanner reads the frames of one segment in order, from off up to limit,
// verifying each and skipping corrupt stretches.
type scanner struct {
	r     io.ReaderAt
	off   int64
	limit int64
	after uint64 // sequence number of the last frame returned

	buf    []byte
	bufOff int64 // file offset of buf[0]
}

const scanChunk = 256 << 10

// window makes buf hold the bytes [off, off+n) (fewer at the limit) and
// returns them.
func (s *scanner) window(off int64, n int) ([]byte, error) {
	if off < 0 || off >= s.limit {
		return nil, nil
	}
	if rem := s.limit - off; int64(n) > rem {
		n = int(rem)
	}
	if off >= s.bufOff && off+int64(n) <= s.bufOff+int64(len(s.buf)) {
		return s.buf[off-s.bufOff : off-s.bufOff+int64(n)], nil
	}
	want := max(n, scanChunk)
	if rem := s.limit - off; int64(want) > rem {
		want = int(rem)
	}
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	m, err := s.r.ReadAt(s.buf, off)
	if m < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.buf = s.buf[:0]
		return nil, err
	}
	s.bufOff = off
	return s.buf[:n], nil
}

// frameAt returns the valid frame at off, or ok=false.
func (s *scanner) frameAt(off int64) (frame, bool, error) {
	b, err := s.window(off, frameHeader)
	if err != nil || len(b) < frameHeader || string(b[:4]) != frameMagic {
		return frame{}, false, err
	}
	n := int64(binary.LittleEndian.Uint32(b[4:8]))
	if off+frameHeader+n > s.limit {
		return frame{}, false, nil
	}
	b, err = s.window(off, int(frameHeader+n))
	if err != nil {
		return frame{}, false, err
	}
	if checkFrame(b, s.after) < 0 {
		return frame{}, false, nil
	}
	return frame{
		off:  off,
		seq:  binary.LittleEndian.Uint64(b[12:20]),
		time: int64(binary.LittleEndian.Uint64(b[20:28])),
		data: b[frameHeader:],
	}, true, nil
}

// next returns the next valid frame and how many bytes of garbage were
// skipped to reach it; io.EOF at the limit; errTail when only garbage is
// left (s.off then stays at the start of the garbage).
func (s *scanner) next() (frame, int64, error) {
	if s.off >= s.limit {
		return frame{}, 0, io.EOF
	}
	f, ok, err := s.frameAt(s.off)
	if err != nil {
		return frame{}, 0, err
	}
	if !ok {
		f, ok, err = s.resync()
		if err != nil || !ok {
			return frame{}, 0, errTail
		}
	}
	skipped := f.off - s.off
	s.off = f.off + f.size()
	s.after = f.seq
	return f, skipped, nil
}

// resync searches past s.off for the next valid frame.
func (s *scanner) resync() (frame, bool, error) {
	magic := []byte(frameMagic)
	for pos := s.off + 1; pos+frameHeader <= s.limit; {
		b, err := s.window(pos, scanChunk)
		if err != nil {
			return frame{}, false, err
		}
		i := bytes.Index(b, magic)
		if i < 0 {
			// keep the last bytes: a magic may straddle the window
			pos += int64(max(len(b)-len(magic)+1, 1))
			continue
		}
		cand := pos + int64(i)
		f, ok, err := s.frameAt(cand)
		if err != nil {
			return frame{}, false, err
		}
		if ok {
			return f, true, nil
		}
		pos = cand + 1
	}
	return frame{}, false, nil
}
