//go:build linux

package batcher

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/kiln-iot/kiln/internal/tmpfs"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
)

// TestCatchesUpAfterDiskFullUnderLoad puts the spool on a 4 MiB tmpfs and
// writes 40,000 samples/s into the batcher throughout. The spool's
// consumer (the uplink to a broker) stops: the disk fills, the batches
// held in memory grow past the size of the whole file system, and the
// retry delay reaches its maximum. Then the consumer comes back and frees
// space, at four times the rate samples arrive but never more than the
// disk holds at once: the batcher must write its backlog as fast as space
// returns, and so catch up and be healthy while the load goes on. (When
// every retry that wrote part of the backlog still waited the grown
// delay, each delay let in more samples than the disk holds, and it never
// caught up.)
func TestCatchesUpAfterDiskFullUnderLoad(t *testing.T) {
	mnt := tmpfs.Mount(t, "4m")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sp, err := spool.Open(spool.Config{Dir: filepath.Join(mnt, "spool"), SegmentBytes: 256 << 10, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	b, err := New(sp, Config{Source: "gw", Tenant: "acme", BacklogBytes: 64 << 20}, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	wg.Go(func() { _ = b.Serve(serveCtx) })

	// The plant: 400 samples every 10 ms, tag names as plants write them.
	const perTick, tick = 400, 10 * time.Millisecond
	var produced atomic.Uint64
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		samples := make([]plc.Sample, perTick)
		for i := range samples {
			samples[i].Tag = fmt.Sprintf("Line%d.Kiln%d.Zone%03d.Temperature", i%4, i%3, i)
			samples[i].Quality = plc.Good
		}
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for n := int64(0); ; n++ {
			select {
			case <-loadCtx.Done():
				return
			case now := <-tk.C:
				for i := range samples {
					samples[i].Value, samples[i].Time = plc.IntValue(plc.DInt, n+int64(i)), now
				}
				_ = b.WriteSamples(loadCtx, samples)
				produced.Add(perTick)
			}
		}
	}()

	// The consumer: at most 4 records (batches of 400 samples) per tick.
	sub, err := spool.NewSubscriber(sp)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var consuming sync.Mutex // held while the link is down
	consume := func(ctx context.Context) {
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			for range 4 {
				consuming.Lock()
				d, err := sub.Receive(ctx)
				if err == nil {
					err = d.Ack()
				}
				consuming.Unlock()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("consumer: %v", err)
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}
	consCtx, stopCons := context.WithCancel(ctx)
	defer stopCons()
	wg.Go(func() { consume(consCtx) })

	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not %s within %v: stats %+v, health %v, spool %+v", what, within, b.Stats(), b.Health(), sp.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("spooling", 20*time.Second, func() bool { return b.Stats().SamplesSpooled > 10*perTick })

	// The link drops: the disk fills, the backlog outgrows it, the retry
	// delay grows to its maximum.
	consuming.Lock()
	waitFor("holding more than the disk", 60*time.Second, func() bool {
		st := b.Stats()
		return b.Health() != nil && st.BytesHeld > 4<<20 && st.Failures >= 8
	})
	consuming.Unlock()

	// The link is back: the batcher catches up and is healthy, the load
	// going on.
	waitFor("caught up", 30*time.Second, func() bool { return b.Health() == nil && b.Stats().SamplesHeld == 0 })
	select {
	case <-loadDone:
		t.Fatal("the load stopped")
	default:
	}

	stopLoad()
	<-loadDone
	stopServe()
	stopCons()
	wg.Wait()
	st := b.Stats()
	if got := st.SamplesSpooled + st.SamplesDropped + uint64(st.SamplesHeld); got != produced.Load() {
		t.Fatalf("produced %d samples; spooled %d + dropped %d + held %d", produced.Load(), st.SamplesSpooled, st.SamplesDropped, st.SamplesHeld)
	}
	if st.SamplesDropped != 0 {
		t.Fatalf("%d samples dropped, though the backlog bound (64 MiB) was never reached", st.SamplesDropped)
	}
}
