package supervise

import (
	"context"
	"errors"
	"testing"
	"time"
)

// BenchmarkRestart measures one failure and restart of a child: from its
// Serve returning an error to its replacement's Serve running. The
// comparison with suture is the runner in bench/supervise.
func BenchmarkRestart(b *testing.B) {
	fail := make(chan struct{})
	started := make(chan struct{}, 1)
	errFail := errors.New("fail")
	svc := ServiceFunc(func(ctx context.Context) error {
		started <- struct{}{}
		select {
		case <-fail:
			return errFail
		case <-ctx.Done():
			return nil
		}
	})
	s := mustNew(b, Config{Intensity: 1 << 30, Period: time.Second, StableAfter: time.Nanosecond})
	mustAdd(b, s, Spec{Name: "c", New: func() (Service, error) { return svc, nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	<-started
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		fail <- struct{}{}
		<-started
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
