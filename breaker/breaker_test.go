package breaker

import (
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
