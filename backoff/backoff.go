package backoff

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/kiln-iot/kiln/clock"
)

// Config shapes the delays. Zero fields take the documented defaults.
type Config struct {
	// Initial is the base delay before the first retry (default 100ms).
	Initial time.Duration `yaml:"initial"`
	// Max caps the base delay (default 30s).
	Max time.Duration `yaml:"max"`
	// Multiplier grows the base delay per attempt (default 2).
	Multiplier float64 `yaml:"multiplier"`
	// Jitter is the fraction of the base delay that is randomized: the
	// delay is drawn uniformly from [base*(1-Jitter), base]. Default 0.5;
	// a negative value disables jitter.
	Jitter float64 `yaml:"jitter"`
}

// FieldError names the field of a Config that Validate refused, by its
// YAML key, with the value and why.
type FieldError struct {
	Field  string
	Value  any
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("backoff: %s %v %s", e.Field, e.Value, e.Reason)
}

// Validate reports the first field that would make no sense as a
// *FieldError: negative delays, a multiplier that is not finite or shrinks
// the delay, a jitter that is NaN or above 1. Zero fields are fine (they
// take the defaults).
func (c Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return &FieldError{Field: field, Value: v, Reason: why}
	}
	switch {
	case c.Initial < 0:
		return bad("initial", c.Initial, "is negative")
	case c.Max < 0:
		return bad("max", c.Max, "is negative")
	case math.IsNaN(c.Multiplier) || math.IsInf(c.Multiplier, 0):
		return bad("multiplier", c.Multiplier, "is not a finite number")
	case c.Multiplier != 0 && c.Multiplier < 1:
		return bad("multiplier", c.Multiplier, "is below 1")
	case math.IsNaN(c.Jitter):
		return bad("jitter", c.Jitter, "is not a number")
	case c.Jitter > 1:
		return bad("jitter", c.Jitter, "is above 1")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Initial <= 0 {
		c.Initial = 100 * time.Millisecond
	}
	if c.Max <= 0 {
		c.Max = 30 * time.Second
	}
	if c.Max < c.Initial {
		c.Max = c.Initial
	}
	if c.Multiplier < 1 {
		c.Multiplier = 2
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = 0.5
	case c.Jitter < 0:
		c.Jitter = 0
	case c.Jitter > 1:
		c.Jitter = 1
	}
	return c
}

// Sleep waits d on clk, or until ctx is done and returns ctx.Err() then.
// It is the wait between attempts for callers that compute their own
// delays with Delay and take an injectable clock:
//
//	if err := backoff.Sleep(ctx, clk, backoff.Delay(cfg, attempt, rand.Float64())); err != nil {
//		return err
//	}
func Sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Delay returns the delay for attempt n (0-based) given a random number r
// in [0,1), so callers with their own clock or randomness can use the same
// schedule.
func Delay(cfg Config, n int, r float64) time.Duration {
	return delay(cfg.withDefaults(), n, r)
}

// delay is Delay for a Config that already has its defaults.
func delay(cfg Config, n int, r float64) time.Duration {
	base := float64(cfg.Initial)
	for i := 0; i < n && base < float64(cfg.Max); i++ {
		base *= cfg.Multiplier
	}
	if base > float64(cfg.Max) {
		base = float64(cfg.Max)
	}
	return time.Duration(base * (1 - cfg.Jitter*r))
}
