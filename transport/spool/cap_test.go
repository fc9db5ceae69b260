package spool

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// capConfig holds 4 segments of 4 KiB: 100 records of 41 bytes per segment.
func capConfig(dir string, full FullPolicy) Config {
	return Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 4 * 4096, Full: full}
}

func TestBlockPolicyWaitsForAcksAndHonoursContext(t *testing.T) {
	s := mustOpen(t, capConfig(t.TempDir(), FullBlock))
	n := 0
	for ; ; n++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a full spool must not wait: fail at once with ctx's error
		if err := s.Append(ctx, rec(n)); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Append %d: %v", n, err)
			}
			break
		}
	}
	if st := s.Stats(); st.Records != int64(n) || st.Bytes > 4*4096 {
		t.Fatalf("full spool: %d appended, %+v", n, st)
	}
	// a blocked Append goes through once an ack frees a whole segment
	errc := make(chan error, 1)
	go func() { errc <- s.Append(context.Background(), rec(n)) }()
	r, _ := s.OpenReader()
	defer r.Close()
	recs, err := r.Next(context.Background(), 150)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("Append returned %v before any ack", err)
	default:
	}
	if err := r.Ack(recs[149].Seq); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Append after ack: %v", err)
	}
	if st := s.Stats(); st.DroppedRecords != 0 || st.Records != int64(n+1-150) {
		t.Fatalf("after ack: %+v", st)
	}
}

func TestBlockedAppendEndsOnClose(t *testing.T) {
	s := mustOpen(t, capConfig(t.TempDir(), FullBlock))
	for i := 0; i < 400; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Append(ctx, rec(i)); err != nil {
			break
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Append(context.Background(), rec(0)) }()
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Append after Close: %v", err)
	}
}

func TestDropOldestPolicyCountsAndLogsDrops(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s := mustOpen(t, capConfig(t.TempDir(), FullDropOldest), WithLogger(zap.New(core)))
	appendN(t, s, 0, 1000) // 41 000 bytes into a 16 KiB cap
	st := s.Stats()
	if st.Bytes > 4*4096 || st.DroppedRecords == 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.DroppedRecords+uint64(st.Records) != 1000 {
		t.Fatalf("dropped %d + kept %d != 1000", st.DroppedRecords, st.Records)
	}
	got := readAll(t, s)
	checkRecords(t, got, seq(1000-len(got), 1000)) // the newest survive, in order
	var logged uint64
	for _, e := range logs.FilterMessage("spool: full, dropped oldest segment").All() {
		logged += e.ContextMap()["records"].(uint64)
	}
	if logged != st.DroppedRecords {
		t.Fatalf("logged %d dropped records, counted %d", logged, st.DroppedRecords)
	}
}

func TestDropOldestWhileReading(t *testing.T) {
	s := mustOpen(t, capConfig(t.TempDir(), FullDropOldest))
	appendN(t, s, 0, 150)
	r, _ := s.OpenReader()
	defer r.Close()
	first, _ := r.Next(context.Background(), 10) // reading inside segment 1
	appendN(t, s, 150, 400)                      // drops segment 1 and more under the reader
	if err := r.Ack(first[9].Seq); err != nil {  // ack of a dropped record is harmless
		t.Fatal(err)
	}
	var got []Record
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		recs, err := r.Next(done, 100)
		if err != nil {
			break
		}
		got = append(got, recs...)
	}
	st := s.Stats()
	if uint64(len(got))+st.DroppedRecords != 550 { // the 10 handed out were unacked: dropped too
		t.Fatalf("read %d, dropped %d, of 550", len(got), st.DroppedRecords)
	}
	checkRecords(t, got, seq(550-len(got), 550))
}

func TestIntervalPolicySyncsInBackground(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := testConfig(t.TempDir())
	cfg.Sync, cfg.SyncInterval = SyncInterval, time.Second
	s := mustOpen(t, cfg, WithClock(clk))
	appendN(t, s, 0, 5)
	if st := s.Stats(); st.Fsyncs != 0 {
		t.Fatalf("interval policy synced on append: %+v", st)
	}
	clk.BlockUntil(1)
	for s.Stats().Fsyncs == 0 {
		clk.Advance(time.Second)
		time.Sleep(time.Millisecond) // let the sync goroutine run
	}
	if st := s.Stats(); st.Records != 5 || !st.Oldest.Equal(time.Unix(1_700_000_000, 0)) {
		t.Fatalf("stats: %+v", st)
	}
}

func TestAlwaysPolicySyncsEveryRecord(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Sync = SyncAlways
	s := mustOpen(t, cfg)
	if err := s.Append(context.Background(), rec(0), rec(1), rec(2)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Fsyncs != 3 {
		t.Fatalf("fsyncs %d, want 3", st.Fsyncs)
	}
	cfg = testConfig(t.TempDir())
	s = mustOpen(t, cfg)
	if err := s.Append(context.Background(), rec(0), rec(1), rec(2)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Fsyncs != 1 {
		t.Fatalf("batch policy: fsyncs %d, want 1", st.Fsyncs)
	}
}

func TestTooLargeAndConfigErrors(t *testing.T) {
	s := mustOpen(t, testConfig(t.TempDir()))
	if err := s.Append(context.Background(), make([]byte, 5000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized record: %v", err)
	}
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{}, "dir"},
		{Config{Dir: "x", SegmentBytes: 100}, "segment_bytes"},
		{Config{Dir: "x", SegmentBytes: 8192, MaxBytes: 10000}, "max_bytes"},
		{Config{Dir: "x", Full: "drop-newest"}, "full"},
		{Config{Dir: "x", Sync: "never"}, "sync"},
	} {
		var fe *config.FieldError
		if err := c.cfg.Validate(); !errors.As(err, &fe) || fe.Path != c.field {
			t.Errorf("%+v: %v, want error on %s", c.cfg, err, c.field)
		}
	}
}

func TestOneSpoolPerDirectoryAndOneReader(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testConfig(dir))
	if _, err := Open(testConfig(dir)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	r, err := s.OpenReader()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenReader(); !errors.Is(err, ErrReaderBusy) {
		t.Fatalf("second reader: %v", err)
	}
	if _, err := NewSubscriber(s); !errors.Is(err, ErrReaderBusy) {
		t.Fatalf("subscriber beside a reader: %v", err)
	}
	r.Close()
	r2, err := s.OpenReader()
	if err != nil {
		t.Fatalf("reader after Close: %v", err)
	}
	if err := r2.Ack(1); !errors.Is(err, ErrBadAck) {
		t.Fatalf("ack of unread record: %v", err)
	}
	r2.Close()
	s.Close()
	s2 := mustOpen(t, testConfig(dir)) // the lock goes with Close
	s2.Close()
}

func TestAppendQueuedBehindABlockedAppendHonoursContext(t *testing.T) {
	s := mustOpen(t, capConfig(t.TempDir(), FullBlock))
	for i := 0; ; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Append(ctx, rec(i)); err != nil {
			break
		}
	}
	first := make(chan error, 1)
	go func() { first <- s.Append(context.Background(), rec(0)) }() // waits for space
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Append(ctx, rec(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued Append: %v", err)
	}
	s.Close()
	if err := <-first; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Append after Close: %v", err)
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	err := Config{SegmentBytes: 100, Full: "drop-newest", Sync: "never", SyncInterval: -1}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if want := []string{"dir", "segment_bytes", "full", "sync", "sync_interval"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}
