package backoff

import (
	"context"
	"math"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
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

// Validate reports every field that would make no sense, each a
// *config.FieldError with the field's YAML key: negative delays, a
// multiplier that is not finite or would shrink the delay (below 1), a
// jitter that is NaN or above 1. Zero fields are fine (they take the
// defaults).
func (c Config) Validate() error {
	var p config.Problems
	if c.Initial < 0 {
		p.Add("initial", "%v is negative", c.Initial)
	}
	if c.Max < 0 {
		p.Add("max", "%v is negative", c.Max)
	}
	switch m := c.Multiplier; {
	case math.IsNaN(m) || math.IsInf(m, 0):
		p.Add("multiplier", "%v is not a finite number", m)
	case m != 0 && m < 1:
		p.Add("multiplier", "%v is below 1 (the delay would shrink)", m)
	}
	switch {
	case math.IsNaN(c.Jitter):
		p.Add("jitter", "is not a number")
	case c.Jitter > 1:
		p.Add("jitter", "%v is above 1", c.Jitter)
	}
	return p.Err()
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
	if c.Multiplier == 0 {
		c.Multiplier = 2
	} else if c.Multiplier < 1 || math.IsNaN(c.Multiplier) {
		// Validate refuses these; a Config that skipped it gets a
		// constant delay rather than a shrinking or undefined one.
		c.Multiplier = 1
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
