package breaker

import (
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/kiln-iot/kiln/config"
)

// Defaults of the zero Config fields.
const (
	DefaultFailures = 5
	DefaultOpenFor  = 10 * time.Second
)

// Config shapes a circuit breaker: after Failures consecutive failures
// it opens and no call is tried for OpenFor; then one trial call decides
// whether it closes again. The zero value means the defaults.
type Config struct {
	// Failures is how many consecutive failures open the breaker
	// (default 5).
	Failures int `yaml:"failures"`
	// OpenFor is how long the breaker stays open before a trial (default
	// 10s, or the default of the part that embeds it). It runs on the
	// system clock (gobreaker's own).
	OpenFor time.Duration `yaml:"open_for"`
}

// Validate reports every negative field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.Failures < 0 {
		p.Add("failures", "%d is negative", c.Failures)
	}
	if c.OpenFor < 0 {
		p.Add("open_for", "%v is negative", c.OpenFor)
	}
	return p.Err()
}

// Or returns c with its zero fields taken from def, for a part whose
// defaults differ from the package's.
func (c Config) Or(def Config) Config {
	if c.Failures == 0 {
		c.Failures = def.Failures
	}
	if c.OpenFor == 0 {
		c.OpenFor = def.OpenFor
	}
	return c
}

// Settings returns the gobreaker settings of c (zero fields take the
// defaults) for a breaker called name. The caller adds its own
// IsSuccessful, IsExcluded or OnStateChange.
func (c Config) Settings(name string) gobreaker.Settings {
	c = c.Or(Config{Failures: DefaultFailures, OpenFor: DefaultOpenFor})
	failures := uint32(c.Failures)
	return gobreaker.Settings{
		Name:        name,
		Timeout:     c.OpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= failures },
	}
}

// Refused reports whether err is a gobreaker breaker refusing a call:
// open, or half-open with its trial call under way.
func Refused(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// Gauge is the value of a breaker state gauge: 0 closed, 1 half-open,
// 2 open.
func Gauge(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateClosed:
		return 0
	case gobreaker.StateHalfOpen:
		return 1
	}
	return 2
}
