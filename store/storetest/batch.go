package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
)

// Batches cuts samples into batches of size of source gw-1 in epoch,
// numbered from seq on.
func Batches(samples []plc.Sample, size int, epoch, seq uint64) []store.Batch {
	var out []store.Batch
	for i := 0; i < len(samples); i += size {
		out = append(out, store.Batch{Source: "gw-1", Epoch: epoch, Seq: seq, Samples: samples[i:min(i+size, len(samples))]})
		seq++
	}
	return out
}

func writeBatches(t *testing.T, s store.Store, tenant string, batches ...store.Batch) store.WriteResult {
	t.Helper()
	res, err := s.WriteBatches(context.Background(), tenant, batches)
	if err != nil {
		t.Fatalf("WriteBatches(%s, %d batches): %v", tenant, len(batches), err)
	}
	return res
}

func testBatchRedelivered(t *testing.T, s store.Store) {
	bs := Batches(Samples(300, 7), 100, 1, 1)
	if res := writeBatches(t, s, "acme", bs...); res.Inserted != 300 || res.Redelivered != 0 {
		t.Fatalf("first delivery: %+v", res)
	}
	if res := writeBatches(t, s, "acme", bs[1]); res.Inserted != 0 || res.Redelivered != 100 || res.Duplicates != 0 {
		t.Fatalf("batch 2 again: %+v, want 100 redelivered", res)
	}
	// The same identity twice in one call, and a new batch beside it.
	more := Batches(Samples(400, 7)[300:], 100, 1, 4)[0]
	if res := writeBatches(t, s, "acme", more, bs[0], more); res.Inserted != 100 || res.Redelivered != 200 {
		t.Fatalf("a new batch twice beside an old one: %+v, want 100 inserted, 200 redelivered", res)
	}
	if n := count(t, s, "acme"); n != 400 {
		t.Fatalf("%d rows, want 400", n)
	}
	// Identities are per tenant.
	if res := writeBatches(t, s, "globex", bs[0]); res.Inserted != 100 {
		t.Fatalf("another tenant's batch of the same identity: %+v, want 100 inserted", res)
	}
}

func testBatchOutOfOrder(t *testing.T, s store.Store) {
	bs := Batches(Samples(500, 5), 100, 7, 10)
	for _, i := range []int{3, 0, 4, 3, 1, 0, 2, 4} {
		writeBatches(t, s, "acme", bs[i])
	}
	if n := count(t, s, "acme"); n != 500 {
		t.Fatalf("%d rows after out-of-order delivery with repeats, want 500", n)
	}
}

// A gateway restarted with a fresh spool starts its sequence over in a
// new epoch: its new batches are written though their numbers were
// seen, and its old ones, still in flight, are not written twice.
func testBatchNewEpoch(t *testing.T, s store.Store) {
	all := Samples(600, 6)
	old := Batches(all[:300], 100, 1111, 1)
	writeBatches(t, s, "acme", old[:2]...)
	fresh := Batches(all[300:], 100, 2222, 1) // the same sequence numbers again
	if res := writeBatches(t, s, "acme", fresh...); res.Inserted != 300 || res.Redelivered != 0 {
		t.Fatalf("new epoch with a reset sequence: %+v, want 300 inserted", res)
	}
	if res := writeBatches(t, s, "acme", old...); res.Inserted != 100 || res.Redelivered != 200 {
		t.Fatalf("the old epoch's batches redelivered: %+v, want the one missing inserted", res)
	}
	if n := count(t, s, "acme"); n != 600 {
		t.Fatalf("%d rows, want 600", n)
	}
	// Epoch 0 (a source that sends none) is an epoch like any other.
	zero := Batches(Samples(700, 6)[600:], 100, 0, 1)
	writeBatches(t, s, "acme", zero...)
	if res := writeBatches(t, s, "acme", zero...); res.Redelivered != 100 {
		t.Fatalf("epoch 0 redelivered: %+v", res)
	}
}

func testBatchRepeatedSamples(t *testing.T, s store.Store) {
	in := Samples(100, 4)
	b := store.Batch{Source: "gw-1", Epoch: 1, Seq: 1, Samples: append(append([]plc.Sample(nil), in...), in[10:30]...)}
	if res := writeBatches(t, s, "acme", b); res.Inserted != 100 || res.Duplicates != 20 {
		t.Fatalf("batch repeating 20 samples: %+v, want 100 inserted, 20 duplicates", res)
	}
	// The same samples under another identity (a source re-sending them
	// as new) still make no second row.
	b.Seq = 2
	if res := writeBatches(t, s, "acme", b); res.Inserted != 0 || res.Duplicates != 120 {
		t.Fatalf("the same samples in a new batch: %+v, want all duplicates", res)
	}
	if n := count(t, s, "acme"); n != 100 {
		t.Fatalf("%d rows, want 100", n)
	}
}

// Writers delivering the same batches at once: each batch is written by
// exactly one of them.
func testBatchConcurrentRedelivery(t *testing.T, s store.Store) {
	bs := Batches(Samples(2000, 20), 100, 5, 1)
	const writers = 4
	var wg sync.WaitGroup
	results := make(chan store.WriteResult, writers*len(bs))
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range bs {
				j := (i + w*5) % len(bs) // each writer in its own order
				res, err := s.WriteBatches(context.Background(), "acme", bs[j:j+1])
				if err != nil {
					errs <- err
					return
				}
				results <- res
			}
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var sum store.WriteResult
	for r := range results {
		sum.Inserted += r.Inserted
		sum.Redelivered += r.Redelivered
		sum.Duplicates += r.Duplicates
	}
	if sum.Inserted != 2000 || sum.Redelivered != 3*2000 || sum.Duplicates != 0 {
		t.Fatalf("4 writers of the same 20 batches: %+v, want 2000 inserted, 6000 redelivered", sum)
	}
	if n := count(t, s, "acme"); n != 2000 {
		t.Fatalf("%d rows, want 2000", n)
	}
}

func testBatchInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	bs := Batches(Samples(30, 3), 10, 1, 1)
	bs[2].Samples = append([]plc.Sample(nil), bs[2].Samples...)
	bs[2].Samples[4].Time = time.Time{}
	var se *store.SampleError
	if _, err := s.WriteBatches(ctx, "acme", bs); !errors.As(err, &se) || se.Index != 24 || se.Field != "Time" {
		t.Fatalf("a bad sample in batch 3: %v, want a *SampleError for sample 24", err)
	}
	bs = Batches(Samples(30, 3), 10, 1, 1)
	bs[1].Source = "gw\n1"
	if _, err := s.WriteBatches(ctx, "acme", bs); !errors.Is(err, store.ErrSource) {
		t.Fatalf("a bad source: %v, want ErrSource", err)
	}
	if n := count(t, s, "acme"); n != 0 {
		t.Fatalf("%d rows from refused calls", n)
	}
	// Nothing was recorded either: the batches go in now.
	if res := writeBatches(t, s, "acme", Batches(Samples(30, 3), 10, 1, 1)...); res.Inserted != 30 {
		t.Fatalf("after refused calls: %+v, want 30 inserted", res)
	}
}
