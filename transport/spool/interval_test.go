package spool

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/clock"
)

// intervalConfig is cfg under the "interval" policy, synced every second
// of clk's time.
func intervalConfig(cfg Config) Config {
	cfg.Sync, cfg.SyncInterval = SyncInterval, time.Second
	return cfg
}

// tick advances clk by one sync interval until done reports that the sync
// loop has acted.
func tick(clk *clock.Fake, done func() bool) {
	clk.BlockUntil(1)
	for !done() {
		clk.Advance(time.Second)
		time.Sleep(time.Millisecond) // let the sync goroutine run
	}
}

// checkPowerLoss opens the image a power loss leaves of dir and checks
// that it resumes after the cursor want, delivering every record after it
// up to n again, and counting nothing lost or corrupt.
func checkPowerLoss(t *testing.T, ffs *faultFS, dir string, want uint64, n int) {
	t.Helper()
	img := ffs.powerLoss(t, dir)
	if c := storedCursor(t, img); c != want {
		t.Fatalf("after a power loss the cursor is %d, want %d", c, want)
	}
	s := mustOpen(t, testConfig(img))
	defer s.Close()
	if st := s.Stats(); st.Records != int64(n)-int64(want) {
		t.Fatalf("after a power loss: %d records, want %d", st.Records, int64(n)-int64(want))
	}
	checkRecords(t, readAll(t, s), seq(int(want), n))
	if st := s.Stats(); st.CorruptRecords != 0 || st.CorruptBytes != 0 || st.TruncatedBytes != 0 || st.Records != int64(n)-int64(want) {
		t.Fatalf("after a power loss and reading again: %+v", st)
	}
}

// Under the "interval" policy a segment is deleted only once a cursor
// covering it is fsynced, so a power loss that keeps the deletions and
// loses the cursor writes since the last fsync counts nothing lost.
func TestIntervalPowerLossCountsNothingLost(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, intervalConfig(testConfig(dir)), WithClock(clk), withFS(ffs))
	appendN(t, s, 0, 300) // 99 records per segment
	r, _ := s.OpenReader()
	defer r.Close()
	readN(t, r, 300)
	segs := s.Stats().Segments

	if err := r.Ack(100); err != nil {
		t.Fatal(err)
	}
	checkPowerLoss(t, ffs, dir, 0, 300) // stored by the next tick
	if st := s.Stats(); st.Records != 200 || st.Segments != segs {
		t.Fatalf("after Ack(100): %+v", st)
	}
	tick(clk, func() bool { return s.Stats().Segments < segs })
	checkPowerLoss(t, ffs, dir, 100, 300)

	if err := r.Ack(250); err != nil {
		t.Fatal(err)
	}
	checkPowerLoss(t, ffs, dir, 100, 300)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkPowerLoss(t, ffs, dir, 250, 300)
}

// When the sync loop cannot store the cursor, it logs the error and keeps
// the segments; the next tick retries.
func TestIntervalCursorFaultKeepsSegments(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	core, logs := observer.New(zap.ErrorLevel)
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, intervalConfig(testConfig(dir)), WithClock(clk), withFS(ffs), WithLogger(zap.New(core)))
	appendN(t, s, 0, 300)
	r, _ := s.OpenReader()
	defer r.Close()
	readN(t, r, 300)
	segs := s.Stats().Segments
	ffs.set(func(f *faultFS) { f.cursorSync = syscall.EIO })
	if err := r.Ack(250); err != nil {
		t.Fatalf("Ack under the interval policy: %v", err)
	}
	tick(clk, func() bool { return logs.FilterMessage("spool: storing the cursor").Len() > 0 })
	if st := s.Stats(); st.Segments != segs || st.Records != 50 {
		t.Fatalf("after the failed store: %+v", st)
	}
	checkPowerLoss(t, ffs, dir, 0, 300)

	ffs.set(clearCursorFaults)
	tick(clk, func() bool { return s.Stats().Segments < segs })
	checkPowerLoss(t, ffs, dir, 250, 300)
}

// An Append blocked at the cap under the "interval" policy does not wait
// for the sync loop: the Ack wakes it, and it stores the cursor, fsynced,
// before it deletes the segments the cursor covers.
func TestIntervalBlockedAppendStoresTheCursorDurably(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, intervalConfig(capConfig(dir, FullBlock)), WithClock(clk), withFS(ffs))
	n := 0
	for ; ; n++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Append(ctx, rec(n)); err != nil {
			break
		}
	}
	// the timeout only turns a hang into a failure
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Append(ctx, rec(n)) }()
	for len(s.wmu) == 0 { // the Append is under way
		time.Sleep(time.Millisecond)
	}
	r, _ := s.OpenReader()
	defer r.Close()
	readN(t, r, n)
	if err := r.Ack(uint64(n)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked Append: %v", err)
	}
	checkPowerLoss(t, ffs, dir, uint64(n), n+1)
	if got := readN(t, r, 1); string(got[0].Data) != string(rec(n)) {
		t.Fatalf("read %q, want %q", got[0].Data, rec(n))
	}
}

// Drop-oldest under the "interval" policy fsyncs the cursor past a
// segment before deleting it.
func TestIntervalDropOldestStoresTheCursorDurably(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, intervalConfig(capConfig(dir, FullDropOldest)), WithClock(clk), withFS(ffs))
	n := 0
	for ; s.Stats().DroppedRecords == 0; n++ {
		appendN(t, s, n, 1)
	}
	if st := s.Stats(); st.DroppedRecords != 99 || st.Records != int64(n-99) {
		t.Fatalf("after the drop: %+v", st)
	}
	checkPowerLoss(t, ffs, dir, 99, n)
}
