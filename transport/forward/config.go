package forward

import (
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/config"
)

// Defaults for the zero Config fields.
const (
	DefaultBatchSize       = 64
	DefaultMaxInFlight     = 1024
	DefaultConfirmTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 30 * time.Second
)

// Config shapes a Forwarder. The zero value of every field means the
// documented default.
type Config struct {
	// BatchSize is the most messages handed to one Publish call
	// (default 64).
	BatchSize int `yaml:"batch_size"`
	// MaxInFlight is the most messages published and not yet confirmed
	// (default 1024).
	MaxInFlight int `yaml:"max_in_flight"`
	// ConfirmTimeout bounds how long a Publish call may block and how
	// long its confirmations may take; past it the batch counts as failed
	// and is published again (default 30s).
	ConfirmTimeout time.Duration `yaml:"confirm_timeout"`
	// ShutdownTimeout bounds how long Serve waits, once its context is
	// done, for the confirmations of messages in flight (default 10s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Retry spaces the retries after failures (defaults of
	// package backoff: 100ms doubling to 30s, half jitter).
	Retry backoff.Config `yaml:"retry"`
	// Breaker is the circuit breaker around the publisher: after
	// Failures consecutive failed batches (default 5) it opens and no
	// batch is tried for OpenFor (default 30s); then one trial batch
	// decides whether it closes again.
	Breaker breaker.Config `yaml:"breaker"`
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = max(DefaultMaxInFlight, c.BatchSize)
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	c.Breaker = c.Breaker.Or(breaker.Config{Failures: DefaultBreakerFailures, OpenFor: DefaultBreakerOpenFor})
	return c
}

// Validate reports every bad field, each a *config.FieldError with the
// field's YAML path (retry.multiplier, breaker.open_for).
func (c Config) Validate() error {
	var p config.Problems
	if c.BatchSize < 0 {
		p.Add("batch_size", "%d is negative", c.BatchSize)
	}
	if c.MaxInFlight < 0 {
		p.Add("max_in_flight", "%d is negative", c.MaxInFlight)
	} else if d := c.withDefaults(); c.BatchSize >= 0 && d.MaxInFlight < d.BatchSize {
		p.Add("max_in_flight", "%d is below batch_size (%d)", d.MaxInFlight, d.BatchSize)
	}
	if c.ConfirmTimeout < 0 {
		p.Add("confirm_timeout", "%v is negative", c.ConfirmTimeout)
	}
	if c.ShutdownTimeout < 0 {
		p.Add("shutdown_timeout", "%v is negative", c.ShutdownTimeout)
	}
	p.Nest("retry", c.Retry.Validate())
	p.Nest("breaker", c.Breaker.Validate())
	return p.Err()
}
