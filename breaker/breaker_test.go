package breaker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestZeroFieldsTakeTheDefaultsOrThePartsOwn(t *testing.T) {
	s := Config{}.Settings("x")
	if s.Timeout != DefaultOpenFor || s.Name != "x" {
		t.Errorf("Settings = %+v", s)
	}
	if s.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: DefaultFailures - 1}) || !s.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: DefaultFailures}) {
		t.Error("the default breaker does not open at the fifth failure")
	}
	c := Config{Failures: 3}.Or(Config{Failures: 9, OpenFor: 30 * time.Second})
	if c != (Config{Failures: 3, OpenFor: 30 * time.Second}) {
		t.Errorf("Or = %+v", c)
	}
}

func TestRefusedIsTheBreakersRefusalEvenWrapped(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{gobreaker.ErrOpenState, true},
		{fmt.Errorf("s7: connect: %w", gobreaker.ErrTooManyRequests), true},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := Refused(c.err); got != c.want {
			t.Errorf("Refused(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestGaugeCountsClosedHalfOpenOpen(t *testing.T) {
	for s, want := range map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2} {
		if got := Gauge(s); got != want {
			t.Errorf("Gauge(%v) = %v, want %v", s, got, want)
		}
	}
}
