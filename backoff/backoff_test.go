package backoff

import (
	"context"
	"testing"
	"time"
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

func TestBackoffResetStartsOver(t *testing.T) {
	b := New(Config{Initial: time.Millisecond, Jitter: -1})
	b.Next()
	b.Next()
	if b.Attempts() != 2 {
		t.Fatalf("attempts %d, want 2", b.Attempts())
	}
	b.Reset()
	if d := b.Next(); d != time.Millisecond {
		t.Errorf("after reset: %v, want 1ms", d)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	b := New(Config{Initial: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); err != context.Canceled {
		t.Fatalf("Wait on cancelled ctx: %v, want context.Canceled", err)
	}
}
