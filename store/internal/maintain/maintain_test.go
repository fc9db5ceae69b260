package maintain

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoopRunsAtOnceAndEachIntervalUntilCanceled(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	runs := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- Loop(ctx, clk, time.Minute, func(context.Context) error {
			runs <- struct{}{}
			return errors.New("transient")
		})
	}()
	<-runs // at once, before any tick
	for range 2 {
		clk.BlockUntil(1)
		clk.Advance(time.Minute)
		<-runs // an error other than ErrClosed keeps the loop going
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Loop after cancel = %v, want nil", err)
	}
}

func TestLoopStopsOnErrClosed(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	closed := fmt.Errorf("wrapped: %w", store.ErrClosed)
	calls := 0
	err := Loop(context.Background(), clk, time.Minute, func(context.Context) error {
		calls++
		return closed
	})
	if err != closed || calls != 1 {
		t.Fatalf("Loop = %v after %d runs, want %v after 1", err, calls, closed)
	}
}
