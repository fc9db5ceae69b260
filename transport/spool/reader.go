package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
)

// Record is one record read from the spool.
type Record struct {
	// Seq is the record's sequence number: increasing, never reused.
	Seq uint64
	// Time is when the record was appended.
	Time time.Time
	// Data is the record's payload, owned by the caller.
	Data []byte
}

// Reader hands out a spool's records in order and takes their
// acknowledgements. A spool has at most one open Reader.
type Reader struct {
	s      *Spool
	closed bool // guarded by s.mu
}

// OpenReader returns the spool's reader, starting at the first
// unacknowledged record. It returns ErrReaderBusy while another is open.
func (s *Spool) OpenReader() (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.reading {
		return nil, ErrReaderBusy
	}
	s.reading = true
	return &Reader{s: s}, nil
}

// Next blocks until at least one record is available, or ctx is done, and
// returns up to max records in order.
func (r *Reader) Next(ctx context.Context, max int) ([]Record, error) {
	s := r.s
	if max < 1 {
		max = 1
	}
	for {
		s.mu.Lock()
		if r.closed || s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		recs, err := s.readLocked(max)
		if len(recs) > 0 || err != nil {
			s.mu.Unlock()
			return recs, err
		}
		ch := s.data
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// Ack acknowledges every record up to and including seq: they will not be
// read again, the cursor file is updated (fsynced), and segments holding
// only acknowledged records are deleted. Under the "interval" policy the
// sync loop updates the cursor file and deletes the segments every
// SyncInterval (and an Append at the cap and Close do at once), so after
// a crash up to an interval's acknowledged records are read again.
// Acknowledging a record below an earlier ack is a no-op; one that was
// not handed out yet is ErrBadAck.
//
// If the cursor file cannot be updated, Ack returns a *StorageError
// naming it (matching ErrNoSpace or ErrReadOnly where that is the cause).
// The records stay acknowledged for this Spool, but their segments are
// kept and, should the spool be reopened before a later store succeeds,
// they are read again. The next Ack, even of the same seq, the next
// Append and Close retry the store. Under "interval" the sync loop logs
// the error instead and retries on its next tick.
func (r *Reader) Ack(seq uint64) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.closed || s.closed {
		return ErrClosed
	}
	if seq <= s.acked {
		return s.ackStoreLocked() // retries a failed store, if any
	}
	if seq > s.rafter {
		return fmt.Errorf("%w: %d (last read %d)", ErrBadAck, seq, s.rafter)
	}
	s.acked = seq
	s.dropOut(seq)
	s.pruneLost()
	err := s.ackStoreLocked()
	s.notify(&s.space)
	return err
}

// ackStoreLocked stores the cursor for Ack, except under the "interval"
// policy, where the sync loop stores it.
func (s *Spool) ackStoreLocked() error {
	if s.cfg.Sync == SyncInterval {
		return nil
	}
	return s.storeAckLocked()
}

// Close releases the reader. Records handed out and not acknowledged are
// handed out again by the next reader. Close is idempotent.
func (r *Reader) Close() error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	s.reading = false
	if len(s.out) > 0 {
		o := s.out[0]
		s.setReadPos(o.seg, o.off)
		s.rafter = o.seq - 1
		s.out = s.out[:0]
	}
	return nil
}

// setReadPos moves the read position; mu is held.
func (s *Spool) setReadPos(seg *segment, off int64) {
	if seg != s.rseg && s.rfile != nil {
		s.rfile.Close()
		s.rfile, s.rsc = nil, nil
	}
	s.rseg, s.roff = seg, off
}

// openRead makes sure the read position's segment is open; mu is held.
func (s *Spool) openRead() error {
	if s.rsc != nil {
		return nil
	}
	f, err := s.fs.OpenFile(s.rseg.path, os.O_RDONLY, 0)
	if err != nil {
		return &StorageError{"open", s.rseg.path, err}
	}
	s.rfile = f
	s.rsc = &scanner{r: f}
	return nil
}

// readLocked reads up to max records from the read position; mu is held.
func (s *Spool) readLocked(max int) ([]Record, error) {
	var recs []Record
	for len(recs) < max {
		if s.rseg.deleted { // dropped or reclaimed under the reader
			if len(s.segs) == 0 {
				break
			}
			s.setReadPos(s.segs[0], 0)
		}
		seg := s.rseg
		if s.roff >= seg.end {
			if seg == s.act {
				break
			}
			i := 0
			for i < len(s.segs) && s.segs[i] != seg {
				i++
			}
			if i+1 >= len(s.segs) {
				break
			}
			s.setReadPos(s.segs[i+1], 0)
			continue
		}
		if err := s.openRead(); err != nil {
			return recs, err
		}
		sc := s.rsc
		sc.off, sc.limit, sc.after = s.roff, seg.end, s.rafter
		fr, skipped, err := sc.next()
		switch {
		case errors.Is(err, errTail):
			s.corrupt(seg, s.roff, seg.end-s.roff)
			s.roff = seg.end
			continue
		case err == io.EOF:
			s.roff = seg.end
			continue
		case err != nil:
			return recs, &StorageError{"read", seg.path, err}
		}
		if skipped > 0 {
			s.corrupt(seg, s.roff, skipped)
		}
		if fr.seq > s.rafter+1 {
			s.lose(seqRange{s.rafter + 1, fr.seq - 1})
		}
		recs = append(recs, Record{Seq: fr.seq, Time: time.Unix(0, fr.time), Data: append([]byte(nil), fr.data...)})
		s.out = append(s.out, outRec{seq: fr.seq, seg: seg, off: fr.off, time: fr.time})
		s.roff, s.rafter = sc.off, fr.seq
	}
	return recs, nil
}

// lose records a run of missing sequence numbers; mu is held.
func (s *Spool) lose(g seqRange) {
	if n := len(s.lost); n > 0 && s.lost[n-1].to >= g.from {
		return // seen before: the reader is passing it again
	}
	s.lost = append(s.lost, g)
	s.st.corruptRecs += g.to - g.from + 1
	s.log.Error("spool: records lost to corruption", zap.Uint64("from_seq", g.from), zap.Uint64("to_seq", g.to))
}

// pruneLost forgets lost runs that are acknowledged; mu is held.
func (s *Spool) pruneLost() {
	i := 0
	for i < len(s.lost) && s.lost[i].to <= s.acked {
		i++
	}
	s.lost = s.lost[i:]
}

func (s *Spool) corrupt(seg *segment, off, n int64) {
	s.st.corruptB += uint64(n)
	s.log.Error("spool: skipped corrupt bytes", zap.String("segment", seg.path), zap.Int64("offset", off), zap.Int64("bytes", n))
}
