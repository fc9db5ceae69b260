package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
)

// Option sets a code-only setting of Open.
type Option func(*options)

type options struct {
	log *zap.Logger
	clk clock.Clock
	fs  fsys
}

// WithLogger logs recoveries, drops and corruption through l (default: no
// logging).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock that stamps records' append times (default:
// the system clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clk = c } }

// withFS replaces the file system, for fault injection in tests.
func withFS(f fsys) Option { return func(o *options) { o.fs = f } }

const segSuffix = ".seg"

// segment is one segment file.
type segment struct {
	base      uint64 // sequence number the segment was started at; names the file
	path      string
	size      int64  // bytes in the file
	end       int64  // readable end: committed bytes of the active segment, valid bytes of a sealed one
	first     uint64 // first and last sequence numbers held; 0 if none
	last      uint64
	firstTime int64
	deleted   bool
}

// outRec is a record handed to the reader and not yet acknowledged.
type outRec struct {
	seq  uint64
	seg  *segment
	off  int64
	time int64
}

// Spool is a durable FIFO of records in segment files under one
// directory. Append is safe for concurrent use; records are read by the
// one Reader.
type Spool struct {
	cfg  Config
	log  *zap.Logger
	clk  clock.Clock
	fs   fsys
	lock *os.File

	// wmu serializes writers; it is held across write and fsync so that
	// readers, holding only mu, never wait for the disk. It is a
	// one-slot semaphore so that a writer waiting for it honours its
	// context.
	wmu    chan struct{}
	wf     file // the active segment, open for writing
	wbuf   []byte
	broken bool // the active segment may hold bytes past act.size
	dirty  bool // written since the last fsync (interval policy)

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is the active one
	act     *segment
	nextSeq uint64
	acked   uint64 // acknowledged by the reader
	stored  uint64 // acknowledged in the cursor file, fsynced: at most acked
	cur     *cursor
	closed  bool
	space   chan struct{} // closed and replaced when space is freed
	data    chan struct{} // closed and replaced when records are committed
	reading bool          // a Reader is open

	// read position: the next record to hand out
	rseg   *segment
	roff   int64
	rafter uint64
	rsc    *scanner
	rfile  file
	out    []outRec
	// lost are the runs of sequence numbers the reader found missing
	// (records lost to corruption) that are not acknowledged yet; Stats
	// leaves them out of the depth.
	lost []seqRange

	st counters

	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup
}

type counters struct {
	appended, appendedBytes uint64
	fsyncs                  uint64
	droppedRecs, droppedB   uint64
	corruptB, truncatedB    uint64
	corruptRecs             uint64
	writeErrors             uint64
}

// seqRange is the sequence numbers from through to.
type seqRange struct{ from, to uint64 }

// Open opens or creates the spool in cfg.Dir, recovering from a crash: a
// torn record at the end of the last segment is truncated, corrupt
// records elsewhere are skipped and counted, and reading resumes at the
// first unacknowledged record.
func Open(cfg Config, opts ...Option) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: zap.NewNop(), clk: clock.Real, fs: osFS{}}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Spool{
		cfg:   cfg.withDefaults(),
		log:   o.log,
		clk:   clock.Or(o.clk),
		fs:    o.fs,
		wmu:   make(chan struct{}, 1),
		space: make(chan struct{}),
		data:  make(chan struct{}),
		stop:  make(chan struct{}),
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return nil, &StorageError{"mkdir", s.cfg.Dir, err}
	}
	lockPath := filepath.Join(s.cfg.Dir, "LOCK")
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &StorageError{"open", lockPath, err}
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		if errors.Is(err, errLockHeld) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, s.cfg.Dir)
		}
		return nil, &StorageError{"lock", lockPath, err}
	}
	s.lock = lf
	if err := s.recover(); err != nil {
		s.release()
		return nil, err
	}
	if s.cfg.Sync == SyncInterval {
		s.wg.Add(1)
		go s.syncLoop()
	}
	return s, nil
}

// release closes the files Open acquired.
func (s *Spool) release() {
	if s.wf != nil {
		s.wf.Close()
	}
	if s.rfile != nil {
		s.rfile.Close()
	}
	if s.cur != nil {
		s.cur.close()
	}
	s.lock.Close() // closing the file drops the lock
}

// recover loads the segments and the cursor.
func (s *Spool) recover() error {
	cur, acked, err := openCursor(s.fs, filepath.Join(s.cfg.Dir, cursorName))
	if err != nil {
		return err
	}
	s.cur, s.acked, s.stored, s.rafter = cur, acked, acked, acked
	entries, err := s.fs.ReadDir(s.cfg.Dir)
	if err != nil {
		return &StorageError{"readdir", s.cfg.Dir, err}
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) || e.IsDir() {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		s.segs = append(s.segs, &segment{base: base, path: filepath.Join(s.cfg.Dir, name)})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpU64(a.base, b.base) })

	var maxSeq uint64
	kept := s.segs[:0]
	for i, seg := range s.segs {
		isLast := i == len(s.segs)-1
		// A sealed segment whose successor starts at or below the cursor
		// is fully acknowledged: delete it without reading it.
		if !isLast && s.segs[i+1].base-1 <= s.acked {
			s.remove(seg)
			continue
		}
		if err := s.scanSegment(seg, isLast); err != nil {
			return err
		}
		maxSeq = max(maxSeq, seg.last)
		if !isLast && seg.last <= s.acked {
			s.remove(seg)
			continue
		}
		kept = append(kept, seg)
	}
	s.segs = kept
	s.nextSeq = max(maxSeq+1, s.acked+1)
	if len(s.segs) > 0 {
		s.nextSeq = max(s.nextSeq, s.segs[len(s.segs)-1].base)
		last := s.segs[len(s.segs)-1]
		f, err := s.fs.OpenFile(last.path, os.O_RDWR, 0)
		if err != nil {
			return &StorageError{"open", last.path, err}
		}
		s.wf, s.act = f, last
	} else if err := s.createSegment(); err != nil {
		return err
	}
	if s.rseg == nil { // nothing unacknowledged: read from the end
		s.rseg, s.roff = s.act, s.act.end
	}
	return nil
}

// scanSegment verifies seg, sets its metadata and notes the first
// unacknowledged record as the read position. The last segment's torn
// tail is truncated.
func (s *Spool) scanSegment(seg *segment, isLast bool) error {
	mode := os.O_RDONLY
	if isLast {
		mode = os.O_RDWR
	}
	f, err := s.fs.OpenFile(seg.path, mode, 0)
	if err != nil {
		return &StorageError{"open", seg.path, err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &StorageError{"stat", seg.path, err}
	}
	seg.size = fi.Size()
	sc := &scanner{r: f, limit: seg.size, after: seg.base - 1}
	if seg.base == 0 {
		sc.after = 0
	}
	for {
		fr, _, err := sc.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTail) {
			bad := seg.size - sc.off
			if isLast {
				if terr := f.Truncate(sc.off); terr != nil {
					return &StorageError{"truncate", seg.path, terr}
				}
				if serr := f.Sync(); serr != nil {
					return &StorageError{"fsync", seg.path, serr}
				}
				s.st.truncatedB += uint64(bad)
				s.log.Warn("spool: truncated torn tail", zap.String("segment", seg.path), zap.Int64("offset", sc.off), zap.Int64("bytes", bad))
				seg.size = sc.off
			}
			break
		}
		if err != nil {
			return &StorageError{"read", seg.path, err}
		}
		if seg.first == 0 {
			seg.first, seg.firstTime = fr.seq, fr.time
		}
		seg.last = fr.seq
		if s.rseg == nil && fr.seq > s.acked {
			s.rseg, s.roff = seg, fr.off
		}
	}
	// Corrupt stretches of sealed segments stay; the reader skips and
	// counts them when it reaches them.
	seg.end = seg.size
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// createSegment starts a new active segment at nextSeq. Called with wmu
// held (or during Open).
func (s *Spool) createSegment() error {
	path := filepath.Join(s.cfg.Dir, fmt.Sprintf("%020d%s", s.nextSeq, segSuffix))
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return &StorageError{"create", path, err}
	}
	if err := s.fs.SyncDir(s.cfg.Dir); err != nil {
		f.Close()
		s.fs.Remove(path)
		return &StorageError{"fsync", s.cfg.Dir, err}
	}
	seg := &segment{base: s.nextSeq, path: path}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.wf, s.act = f, seg
	s.mu.Unlock()
	return nil
}

// roll seals the active segment and starts a new one. wmu is held.
func (s *Spool) roll() error {
	if s.dirty {
		if err := s.wf.Sync(); err != nil {
			return &StorageError{"fsync", s.act.path, err}
		}
		s.dirty = false
		s.countFsync()
	}
	old := s.wf
	if err := s.createSegment(); err != nil {
		s.mu.Lock()
		s.wf = old
		s.mu.Unlock()
		return err
	}
	old.Close()
	return nil
}

func (s *Spool) countFsync() {
	s.mu.Lock()
	s.st.fsyncs++
	s.mu.Unlock()
}

// remove deletes a segment's file; mu is held or the spool is opening.
func (s *Spool) remove(seg *segment) {
	seg.deleted = true
	if err := s.fs.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("spool: cannot delete segment", zap.String("segment", seg.path), zap.Error(err))
	}
	if s.rseg == seg && s.rfile != nil {
		s.rfile.Close()
		s.rfile, s.rsc = nil, nil
	}
}

// totalLocked returns the bytes in segment files.
func (s *Spool) totalLocked() int64 {
	var n int64
	for _, seg := range s.segs {
		n += seg.size
	}
	return n
}

// storeLocked stores seq in the cursor file, fsynced, unless it holds seq
// or more already.
func (s *Spool) storeLocked(seq uint64) error {
	if seq <= s.stored {
		return nil
	}
	if err := s.cur.store(seq); err != nil {
		return err
	}
	s.stored = seq
	return nil
}

// storeAckLocked stores the cursor at acked, if it is not stored yet, and
// deletes the segments it covers. A segment goes only once the stored
// cursor covers it: deleted before, a restart after a failed store would
// resume at the older stored cursor, find the records in between missing
// and count them lost. After a failed store the segments stay, a restart
// delivers their records again, and the next Ack, Append or Close
// retries the store.
//
// The store is fsynced: a segment deleted after a cursor write that a
// power loss undoes would be counted lost the same way. Under the
// "interval" policy Ack leaves the store to the sync loop, so that the
// cursor file costs one fsync per interval.
func (s *Spool) storeAckLocked() error {
	err := s.storeLocked(s.acked)
	s.reclaimLocked()
	return err
}

// reclaimLocked deletes sealed segments whose records are all
// acknowledged in the cursor file.
func (s *Spool) reclaimLocked() {
	n := 0
	for n < len(s.segs)-1 && s.segs[n].last <= s.stored {
		s.remove(s.segs[n])
		n++
	}
	if n > 0 {
		s.segs = slices.Delete(s.segs, 0, n)
		s.notify(&s.space)
	}
}

// dropOldestLocked discards the oldest (sealed) segment under the
// drop-oldest policy, acknowledging its records. The cursor is stored past
// the segment first; if that fails, nothing is dropped.
func (s *Spool) dropOldestLocked() error {
	seg := s.segs[0]
	if err := s.storeLocked(max(seg.last, s.acked)); err != nil {
		return err
	}
	var lost uint64
	if seg.last > s.acked {
		lost = seg.last - max(s.acked, seg.first-1)
	}
	s.st.droppedRecs += lost
	s.st.droppedB += uint64(seg.size)
	s.log.Warn("spool: full, dropped oldest segment", zap.String("segment", seg.path), zap.Uint64("records", lost), zap.Int64("bytes", seg.size))
	s.segs = s.segs[1:]
	s.remove(seg)
	if seg.last > s.acked {
		s.acked = seg.last
		s.dropOut(seg.last)
		s.pruneLost()
		if s.rafter < s.acked {
			s.rafter = s.acked
		}
	}
	return nil
}

// dropOut forgets handed-out records up to seq.
func (s *Spool) dropOut(seq uint64) {
	i := 0
	for i < len(s.out) && s.out[i].seq <= seq {
		i++
	}
	s.out = s.out[i:]
}

// notify wakes the waiters on *ch.
func (s *Spool) notify(ch *chan struct{}) {
	if s.closed { // Close closed the channels for good
		return
	}
	close(*ch)
	*ch = make(chan struct{})
}

// Append stores records, in order, as one unit: when it returns nil they
// are as durable as the sync policy promises; when it returns an error,
// none of them is stored. At the size cap it blocks (honouring ctx) or
// drops the oldest segments, per the full policy. Errors from the file
// system are *StorageError values matching ErrNoSpace or ErrReadOnly
// where that is the cause; Append works again once the cause is gone.
func (s *Spool) Append(ctx context.Context, records ...[]byte) error {
	if len(records) == 0 {
		return nil
	}
	var need int64
	for i, r := range records {
		if len(r) > s.cfg.MaxRecordBytes {
			return fmt.Errorf("%w: record %d has %d bytes, limit %d", ErrTooLarge, i, len(r), s.cfg.MaxRecordBytes)
		}
		need += frameHeader + int64(len(r))
	}
	if need > s.cfg.MaxBytes/2 {
		return fmt.Errorf("%w: %d records take %d bytes, more than half of max_bytes", ErrTooLarge, len(records), need)
	}
	select {
	case s.wmu <- struct{}{}:
	default: // another Append holds it: wait, honouring ctx
		select {
		case s.wmu <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-s.wmu }()
	if err := s.makeRoom(ctx, need); err != nil {
		return err
	}
	if s.broken {
		if err := s.wf.Truncate(s.act.size); err != nil {
			return s.writeFailed("truncate", err)
		}
		s.broken = false
	}
	now := s.clk.Now().UnixNano()
	buf := s.wbuf[:0]
	for i, r := range records {
		buf = appendFrame(buf, s.nextSeq+uint64(i), now, r)
	}
	s.wbuf = buf
	if err := s.write(buf, len(records)); err != nil {
		return err
	}
	s.mu.Lock()
	a := s.act
	if a.first == 0 {
		a.first, a.firstTime = s.nextSeq, now
	}
	s.nextSeq += uint64(len(records))
	a.last = s.nextSeq - 1
	a.size += int64(len(buf))
	a.end = a.size
	s.st.appended += uint64(len(records))
	s.st.appendedBytes += uint64(len(buf))
	s.notify(&s.data)
	s.mu.Unlock()
	return nil
}

// write writes and syncs the frames in buf (n records) after the active
// segment's end, undoing a partial write on failure. wmu is held.
func (s *Spool) write(buf []byte, n int) error {
	off := s.act.size
	if s.cfg.Sync == SyncAlways && n > 1 {
		// one record at a time, each synced before the next is written
		for p := 0; p < len(buf); {
			m := frameHeader + int(leU32(buf[p+4:]))
			if _, err := s.wf.WriteAt(buf[p:p+m], off+int64(p)); err != nil {
				return s.undo("write", err)
			}
			if err := s.wf.Sync(); err != nil {
				return s.undo("fsync", err)
			}
			s.countFsync()
			p += m
		}
		return nil
	}
	if _, err := s.wf.WriteAt(buf, off); err != nil {
		return s.undo("write", err)
	}
	if s.cfg.Sync == SyncInterval {
		s.dirty = true
		return nil
	}
	if err := s.wf.Sync(); err != nil {
		return s.undo("fsync", err)
	}
	s.countFsync()
	return nil
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// undo cuts the active segment back to its committed size after a failed
// write or fsync, so no partial record stays behind.
func (s *Spool) undo(op string, cause error) error {
	if err := s.wf.Truncate(s.act.size); err != nil {
		s.broken = true // retried before the next write
	}
	return s.writeFailed(op, cause)
}

func (s *Spool) writeFailed(op string, err error) error {
	s.mu.Lock()
	s.st.writeErrors++
	s.mu.Unlock()
	return &StorageError{op, s.act.path, err}
}

// makeRoom rolls the active segment when the records would not fit in it
// and applies the full policy at the size cap. wmu is held.
func (s *Spool) makeRoom(ctx context.Context, need int64) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		a := s.act
		roll := a.size > 0 && a.size+need > s.cfg.SegmentBytes
		var cerr error
		if s.cfg.Sync != SyncInterval || (!roll && s.totalLocked()+need > s.cfg.MaxBytes) {
			// retries a failed store; under "interval" the sync loop
			// stores the cursor, and Append only at the cap, where it
			// waits for the space the store frees
			cerr = s.storeAckLocked()
		}
		if !roll && s.totalLocked()+need > s.cfg.MaxBytes {
			switch {
			case s.cfg.Full == FullDropOldest && len(s.segs) > 1:
				err := s.dropOldestLocked()
				if err != nil {
					s.st.writeErrors++
				}
				s.mu.Unlock()
				if err != nil {
					return err
				}
				continue
			case cerr != nil:
				// the room waits for the cursor store that just failed,
				// and no Ack may come to retry it
				s.st.writeErrors++
				s.mu.Unlock()
				return cerr
			case s.cfg.Full == FullDropOldest || (a.size > 0 && a.last <= s.acked):
				// seal the active segment so that it can be dropped or reclaimed
				roll = a.size > 0
			default:
				ch := s.space
				s.mu.Unlock()
				if err := ctx.Err(); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-ch:
				}
				continue
			}
		}
		s.mu.Unlock()
		if !roll {
			return nil
		}
		if err := s.roll(); err != nil {
			s.mu.Lock()
			s.st.writeErrors++
			s.mu.Unlock()
			return err
		}
	}
}

// syncLoop, under the interval policy, stores the cursor (fsynced) and
// deletes the segments it covers, then fsyncs the active segment, every
// SyncInterval.
func (s *Spool) syncLoop() {
	defer s.wg.Done()
	t := s.clk.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C():
			s.mu.Lock()
			if err := s.storeAckLocked(); err != nil {
				s.log.Error("spool: storing the cursor", zap.Error(err))
			}
			s.mu.Unlock()
			s.wmu <- struct{}{}
			if s.dirty {
				if err := s.wf.Sync(); err != nil {
					s.log.Error("spool: fsync", zap.String("segment", s.act.path), zap.Error(err))
				} else {
					s.dirty = false
					s.countFsync()
				}
			}
			<-s.wmu
		}
	}
}

// Close syncs what is written, stores the cursor if it is behind the
// acknowledgements (under the "interval" policy, or after a failed
// store), and closes the files. Unacknowledged records are read again
// after the next Open. Blocked Appends and Reads return ErrClosed. Close
// is idempotent.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.space)
		close(s.data)
		s.mu.Unlock()
		close(s.stop)
		s.wg.Wait()
		s.wmu <- struct{}{}
		defer func() { <-s.wmu }()
		if s.dirty {
			if err := s.wf.Sync(); err != nil {
				s.closeErr = &StorageError{"fsync", s.act.path, err}
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.storeLocked(s.acked); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		s.release()
	})
	return s.closeErr
}

// Stats is a snapshot of the spool's state and counters.
type Stats struct {
	// Records and Bytes are the unacknowledged records and the bytes of
	// segment files from the first of them on. Records lost to corruption
	// leave Records once the reader has passed them (it sees their
	// sequence numbers missing); until then they count.
	Records int64
	Bytes   int64
	// Oldest is the append time of the oldest unacknowledged record; zero
	// when there is none.
	Oldest time.Time
	// Segments is the number of segment files.
	Segments int
	// Appended and AppendedBytes count records and frame bytes appended
	// since Open.
	Appended, AppendedBytes uint64
	// Fsyncs counts data fsyncs since Open.
	Fsyncs uint64
	// DroppedRecords and DroppedBytes count what the drop-oldest policy
	// discarded.
	DroppedRecords, DroppedBytes uint64
	// CorruptBytes counts bytes skipped because they failed verification;
	// TruncatedBytes counts torn-tail bytes cut at Open.
	CorruptBytes, TruncatedBytes uint64
	// CorruptRecords counts records lost to corruption: the sequence
	// numbers missing between two records the reader handed out.
	CorruptRecords uint64
	// WriteErrors counts failed Appends due to the file system.
	WriteErrors uint64
}

// Stats returns the current state and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Segments:       len(s.segs),
		Appended:       s.st.appended,
		AppendedBytes:  s.st.appendedBytes,
		Fsyncs:         s.st.fsyncs,
		DroppedRecords: s.st.droppedRecs,
		DroppedBytes:   s.st.droppedB,
		CorruptBytes:   s.st.corruptB,
		TruncatedBytes: s.st.truncatedB,
		CorruptRecords: s.st.corruptRecs,
		WriteErrors:    s.st.writeErrors,
	}
	if last := s.nextSeq - 1; last > s.acked {
		st.Records = int64(last - s.acked)
		for _, g := range s.lost {
			if g.to > s.acked {
				st.Records -= int64(g.to - max(g.from, s.acked+1) + 1)
			}
		}
	}
	if st.Records == 0 {
		return st
	}
	// the head: the oldest handed-out record, else the read position
	hseg, hoff, htime := s.rseg, s.roff, int64(0)
	if len(s.out) > 0 {
		hseg, hoff, htime = s.out[0].seg, s.out[0].off, s.out[0].time
	} else {
		htime = s.peekTimeLocked()
	}
	// a head segment deleted under the reader was fully acknowledged:
	// everything left counts
	counting := hseg == nil || hseg.deleted
	for _, seg := range s.segs {
		switch {
		case seg == hseg:
			counting = true
			st.Bytes += seg.size - hoff
		case counting:
			st.Bytes += seg.size
		}
	}
	if htime != 0 {
		st.Oldest = time.Unix(0, htime)
	}
	return st
}

// peekTimeLocked returns the append time of the record at the read
// position, or of the first record after it; 0 if unknown.
func (s *Spool) peekTimeLocked() int64 {
	found := s.rseg == nil || s.rseg.deleted
	for _, seg := range s.segs {
		if seg == s.rseg {
			found = true
			if s.roff < seg.end && s.openRead() == nil {
				s.rsc.limit, s.rsc.after = seg.end, s.rafter
				if fr, ok, _ := s.rsc.frameAt(s.roff); ok {
					return fr.time
				}
			}
			continue
		}
		if found && seg.first != 0 && seg.last > s.acked {
			return seg.firstTime
		}
	}
	return 0
}
