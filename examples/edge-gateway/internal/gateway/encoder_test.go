package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// TestEncoderBacklogKeepsRecords has the spool refuse two batches in a
// row: the backlog must hold both as they were encoded, although the
// encoder reuses its buffers from call to call.
func TestEncoderBacklogKeepsRecords(t *testing.T) {
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil { // a closed spool refuses every append
		t.Fatal(err)
	}
	e := newEncoder(sp, "gw", "acme", clock.Real, zap.NewNop())
	now := time.Unix(1700000000, 0)
	batch := func(v int64, n int) []plc.Sample {
		s := make([]plc.Sample, n)
		for i := range s {
			s[i] = plc.Sample{Tag: "t", Value: plc.IntValue(plc.DInt, v), Quality: plc.Good, Time: now}
		}
		return s
	}
	for v, n := range []int{3, 2} {
		if err := e.WriteSamples(context.Background(), batch(int64(v+1), n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.healthy(); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("healthy = %v, want the refusal", err)
	}
	if len(e.backlog) != 2 || e.held.Load() != 5 {
		t.Fatalf("backlog %d batches, %d samples; want 2 and 5", len(e.backlog), e.held.Load())
	}
	for i, p := range e.backlog {
		m, err := spool.DecodeMessage(p.rec)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		var b wire.Batch
		if err := wire.FromMessage(m, &b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if want := 3 - i; len(b.Samples) != want || p.samples != want {
			t.Fatalf("batch %d: %d samples (counted %d), want %d", i, len(b.Samples), p.samples, want)
		}
		if got, _ := b.Samples[0].Value.Int(); got != int64(i+1) {
			t.Fatalf("batch %d holds value %d, want %d", i, got, i+1)
		}
	}
}
