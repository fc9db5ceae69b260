package batcher

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidateNamesEveryField(t *testing.T) {
	err := Config{MaxBatch: -1, BacklogBytes: -2, Retry: DefaultRetry}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	want := []string{"source", "tenant", "max_batch", "backlog_bytes"}
	if len(paths) != len(want) {
		t.Fatalf("problems at %v, want %v (%v)", paths, want, err)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("problems at %v, want %v", paths, want)
		}
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("%v is not config.ErrInvalid", err)
	}
}

// TestBacklogKeepsRecords has the spool refuse two batches in a row: the
// backlog must hold both as they were encoded, although the batcher
// reuses its buffers from call to call.
func TestBacklogKeepsRecords(t *testing.T) {
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil { // a closed spool refuses every append
		t.Fatal(err)
	}
	b, err := New(sp, Config{Source: "gw", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	batch := func(v int64, n int) []plc.Sample {
		s := make([]plc.Sample, n)
		for i := range s {
			s[i] = plc.Sample{Tag: "t", Value: plc.IntValue(plc.DInt, v), Quality: plc.Good, Time: now}
		}
		return s
	}
	for v, n := range []int{3, 2} {
		if err := b.WriteSamples(context.Background(), batch(int64(v+1), n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Health(); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Health = %v, want the refusal", err)
	}
	if st := b.Stats(); len(b.backlog) != 2 || st.SamplesHeld != 5 || st.BytesHeld == 0 || st.Failures != 1 {
		t.Fatalf("backlog %d batches, stats %+v; want 2 batches, 5 samples", len(b.backlog), st)
	}
	for i, p := range b.backlog {
		m, err := spool.DecodeMessage(p.rec)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		var wb wire.Batch
		if err := wire.FromMessage(m, &wb); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if want := 3 - i; len(wb.Samples) != want || p.samples != want {
			t.Fatalf("batch %d: %d samples (counted %d), want %d", i, len(wb.Samples), p.samples, want)
		}
		if got, _ := wb.Samples[0].Value.Int(); got != int64(i+1) {
			t.Fatalf("batch %d holds value %d, want %d", i, got, i+1)
		}
	}
}

// TestBacklogDropsOldestBeyondBound: past BacklogBytes the oldest
// batches go, each sample counted.
func TestBacklogDropsOldestBeyondBound(t *testing.T) {
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_ = sp.Close()
	b, err := New(sp, Config{Source: "gw", Tenant: "acme", BacklogBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := []plc.Sample{{Tag: "t", Value: plc.IntValue(plc.DInt, 1), Quality: plc.Good, Time: time.Unix(1, 0)}}
	for range 3 {
		_ = b.WriteSamples(context.Background(), s)
	}
	if st := b.Stats(); st.SamplesDropped != 3 || st.SamplesHeld != 0 {
		t.Fatalf("stats %+v, want 3 dropped, none held", st)
	}
}

// TestBacklogKeepsTheNewestBeyondBound: of the batches past
// BacklogBytes the oldest go and the newest stay, in order.
func TestBacklogKeepsTheNewestBeyondBound(t *testing.T) {
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_ = sp.Close()
	b, err := New(sp, Config{Source: "gw", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	write := func(v int64) {
		s := []plc.Sample{{Tag: "t", Value: plc.IntValue(plc.DInt, v), Quality: plc.Good, Time: time.Unix(1, 0)}}
		_ = b.WriteSamples(context.Background(), s)
	}
	write(1)
	// Room for two batches of one sample, not three.
	b.cfg.BacklogBytes = 5 * len(b.backlog[0].rec) / 2
	for v := int64(2); v <= 4; v++ {
		write(v)
	}
	if st := b.Stats(); st.SamplesDropped != 2 || st.SamplesHeld != 2 {
		t.Fatalf("stats %+v, want 2 dropped, 2 held", st)
	}
	for i, p := range b.backlog {
		m, err := spool.DecodeMessage(p.rec)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		var wb wire.Batch
		if err := wire.FromMessage(m, &wb); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if got, _ := wb.Samples[0].Value.Int(); got != int64(i+3) {
			t.Fatalf("batch %d holds value %d, want %d: the newest are kept", i, got, i+3)
		}
	}
}
