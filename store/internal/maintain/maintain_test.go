package maintain

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/metrictest"
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

func TestMetricsCountRunsAndRemovals(t *testing.T) {
	m := NewMetrics("test")
	t0 := time.Unix(100, 0)
	m.Run(t0, t0.Add(time.Second), nil)
	m.Run(t0, t0.Add(time.Second), errors.New("transient"))
	m.Run(t0, t0.Add(time.Second), fmt.Errorf("x: %w", store.ErrClosed))
	m.Removed("batch_records", 3)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"kiln_store_maintenance_runs_total", "result", "ok", 1},
		{"kiln_store_maintenance_runs_total", "result", "error", 1},
		{"kiln_store_retention_removed_total", "what", "batch_records", 3},
		{"kiln_store_maintenance_last_success_timestamp_seconds", "", "", 101},
	} {
		if got := metrictest.Value(t, reg, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
}
