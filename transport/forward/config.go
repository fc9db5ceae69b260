package forward

import (
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/backoff"
)

// Defaults for the zero Config fields.
const (
	DefaultBatchSize        = 64
	DefaultMaxInFlight      = 1024
	DefaultConfirmTimeout   = 30 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultBreakerFailures  = 5
	DefaultBreakerOpenAfter = 30 * time.Second
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
	// Backoff spaces the retries after failures (defaults of
	// package backoff: 100ms doubling to 30s, half jitter).
	Backoff backoff.Config `yaml:"backoff"`
	// Breaker configures the circuit breaker around the publisher.
	Breaker BreakerConfig `yaml:"breaker"`
}

// BreakerConfig configures the circuit breaker (github.com/sony/gobreaker)
// around the publisher: after Failures consecutive failed batches it
// opens and no batch is tried for OpenTimeout; then one trial batch
// decides whether it closes again.
type BreakerConfig struct {
	// Failures is the number of consecutive failed batches that opens the
	// breaker (default 5).
	Failures uint32 `yaml:"failures"`
	// OpenTimeout is how long the breaker stays open (default 30s). It
	// runs on the system clock (gobreaker's own), not the WithClock one.
	OpenTimeout time.Duration `yaml:"open_timeout"`
}

// ConfigError names a bad Config field.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("forward: config %s: %s", e.Field, e.Reason)
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
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = DefaultBreakerFailures
	}
	if c.Breaker.OpenTimeout == 0 {
		c.Breaker.OpenTimeout = DefaultBreakerOpenAfter
	}
	return c
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.BatchSize < 1:
		return &ConfigError{"batch_size", "must be positive"}
	case c.MaxInFlight < c.BatchSize:
		return &ConfigError{"max_in_flight", fmt.Sprintf("must be at least batch_size (%d)", c.BatchSize)}
	case c.ConfirmTimeout < 0:
		return &ConfigError{"confirm_timeout", "must not be negative"}
	case c.ShutdownTimeout < 0:
		return &ConfigError{"shutdown_timeout", "must not be negative"}
	case c.Backoff.Initial < 0 || c.Backoff.Max < 0:
		return &ConfigError{"backoff", "delays must not be negative"}
	case c.Breaker.OpenTimeout < 0:
		return &ConfigError{"breaker.open_timeout", "must not be negative"}
	}
	return nil
}
