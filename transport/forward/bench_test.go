package forward

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

// linkPublisher confirms each batch after a fixed link delay, as a
// broker across a WAN does; every failEvery-th batch fails (0: none).
type linkPublisher struct {
	delay     time.Duration
	failEvery int
	mu        sync.Mutex
	calls     int
	wg        sync.WaitGroup
}

func (p *linkPublisher) Publish(_ context.Context, msgs []transport.Message, done func(int, error)) error {
	p.mu.Lock()
	p.calls++
	fail := p.failEvery > 0 && p.calls%p.failEvery == 0
	p.mu.Unlock()
	var err error
	if fail {
		err = errLinkDown
	}
	p.wg.Add(1)
	time.AfterFunc(p.delay, func() {
		defer p.wg.Done()
		for i := range msgs {
			done(i, err)
		}
	})
	return nil
}

func (p *linkPublisher) Close() error { p.wg.Wait(); return nil }

// BenchmarkForward drains 20 000 spooled messages over a link with a
// 2 ms confirmation delay, with one batch in flight against a full
// window, without failures and with one batch in 50 failing (each
// failure goes back to the first unconfirmed message and probes with one
// batch before the window opens again).
func BenchmarkForward(b *testing.B) {
	const n = 20000
	for _, c := range []struct {
		window, failEvery int
	}{{64, 0}, {1024, 0}, {1024, 50}} {
		b.Run(fmt.Sprintf("in_flight=%d/fail_every=%d", c.window, c.failEvery), func(b *testing.B) {
			var sent uint64
			for b.Loop() {
				b.StopTimer()
				s, err := spool.Open(spool.Config{Dir: b.TempDir(), MaxBytes: 256 << 20, Sync: spool.SyncInterval})
				if err != nil {
					b.Fatal(err)
				}
				pub := spool.NewPublisher(s)
				batch := make([]transport.Message, 0, 1000)
				for i := range n {
					batch = append(batch, transport.Message{Key: "gw", Payload: []byte(strconv.Itoa(i))})
					if len(batch) == cap(batch) {
						if err := pub.Publish(context.Background(), batch, func(int, error) {}); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				dst := &linkPublisher{delay: 2 * time.Millisecond, failEvery: c.failEvery}
				f, err := New(s, dst, Config{BatchSize: 64, MaxInFlight: c.window,
					Retry:   backoff.Config{Initial: time.Millisecond, Max: time.Millisecond},
					Breaker: breaker.Config{Failures: 1000}})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				b.StartTimer()
				go func() { errc <- f.Serve(ctx) }()
				for s.Stats().Records > 0 {
					time.Sleep(100 * time.Microsecond)
				}
				b.StopTimer()
				cancel()
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				sent += f.Status().Published
				dst.Close()
				pub.Close()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(sent)/float64(b.N)/n, "sends/msg")
		})
	}
}
