package backoff

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

func TestDelayGrowsAndCaps(t *testing.T) {
	cfg := Config{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: -1}
	want := []time.Duration{10, 20, 40, 80, 100, 100}
	for n, w := range want {
		if got := Delay(cfg, n, 0.7); got != w*time.Millisecond {
			t.Errorf("attempt %d: delay %v, want %v", n, got, w*time.Millisecond)
		}
	}
}

func TestDelayJitterStaysInRange(t *testing.T) {
	cfg := Config{Initial: time.Second, Max: time.Second, Jitter: 0.5}
	if got := Delay(cfg, 0, 0); got != time.Second {
		t.Errorf("r=0: %v, want 1s", got)
	}
	if got := Delay(cfg, 0, 0.999); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("r=0.999: %v, want within [0.5s, 1s]", got)
	}
}

func TestSleepWaitsForTheClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), clk, time.Second) }()
	clk.BlockUntil(1)
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Sleep returned %v before its delay passed", err)
	default:
	}
	clk.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Sleep: %v, want nil", err)
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, clk, time.Hour) }()
	clk.BlockUntil(1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep: %v, want context.Canceled", err)
	}
	if n := clk.Waiters(); n != 0 {
		t.Errorf("%d timers left on the clock, want 0 (Sleep stops its timer)", n)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Initial: -1}, "initial"},
		{Config{Max: -1}, "max"},
		{Config{Multiplier: 0.5}, "multiplier"},
		{Config{Multiplier: math.Inf(1)}, "multiplier"},
		{Config{Jitter: math.NaN()}, "jitter"},
		{Config{Jitter: 1.5}, "jitter"},
	} {
		var fe *config.FieldError
		if err := tc.cfg.Validate(); !errors.As(err, &fe) || fe.Path != tc.field {
			t.Errorf("Validate(%+v) = %v, want a *config.FieldError for %s", tc.cfg, err, tc.field)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v, want nil (defaults)", err)
	}
	if err := (Config{Jitter: -1, Multiplier: 1}).Validate(); err != nil {
		t.Errorf("no jitter, constant delay: %v, want nil", err)
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	err := Config{Initial: -1, Max: -1, Multiplier: 0.5, Jitter: 2}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if want := []string{"initial", "max", "multiplier", "jitter"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

func TestAShrinkingMultiplierIsNotTurnedIntoTwo(t *testing.T) {
	// Validate refuses 0.5; a Config used without it gets a constant
	// delay, never the default doubling it did not ask for.
	cfg := Config{Initial: time.Second, Max: time.Minute, Multiplier: 0.5, Jitter: -1}
	if got := Delay(cfg, 3, 0); got != time.Second {
		t.Errorf("Delay(attempt 3) = %v, want 1s", got)
	}
}
