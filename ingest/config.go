package ingest

import (
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/tenant"
)

// Config says what an Ingestor reads and how it batches. Zero fields take
// the documented defaults.
type Config struct {
	// Topic is the local name of the sample topic in each of a tenant's
	// namespaces: the ingestor reads persistent://<tenant>/<ns>/<Topic>
	// for every tenant and namespace of the registry (default "samples").
	Topic string `yaml:"topic"`
	// DeadLetterTopic is the local name, in the same namespace, that
	// rejected messages are moved to (default Topic + "-dlq").
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// MaxBatchSamples flushes a topic's batch to the store once it holds
	// this many samples (default 5000).
	MaxBatchSamples int `yaml:"max_batch_samples"`
	// MaxBatchDelay flushes a batch this long after its first message
	// arrived, however small it is (default 200ms).
	MaxBatchDelay time.Duration `yaml:"max_batch_delay"`
	// MaxDeliveries is how many times a malformed message is received
	// before it is moved to the dead-letter topic; each earlier delivery
	// is nacked (default 3). A message whose batch names another tenant
	// than its topic's is dead-lettered on its first delivery.
	MaxDeliveries int `yaml:"max_deliveries"`
	// DrainTimeout bounds the graceful stop: after Serve's context is
	// done, the batches held are written and acknowledged within it, or
	// left unacknowledged for redelivery (default 30s).
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Retry shapes the delays between attempts to write a batch while the
	// store fails, and to receive while the broker fails (defaults of
	// package backoff: 100ms doubling to 30s, with jitter).
	Retry backoff.Config `yaml:"retry"`
}

// Defaults.
const (
	DefaultTopic           = "samples"
	DefaultMaxBatchSamples = 5000
	DefaultMaxBatchDelay   = 200 * time.Millisecond
	DefaultMaxDeliveries   = 3
	DefaultDrainTimeout    = 30 * time.Second
)

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (retry.multiplier).
func (c Config) Validate() error {
	var p config.Problems
	if c.Topic != "" {
		if err := tenant.ValidateLocal(c.Topic); err != nil {
			p.Add("topic", "%v", err)
		}
	}
	if c.DeadLetterTopic != "" {
		if err := tenant.ValidateLocal(c.DeadLetterTopic); err != nil {
			p.Add("dead_letter_topic", "%v", err)
		}
	}
	if d := c.withDefaults(); d.DeadLetterTopic == d.Topic {
		p.Add("dead_letter_topic", "%q is the sample topic itself", d.DeadLetterTopic)
	}
	if c.MaxBatchSamples < 0 {
		p.Add("max_batch_samples", "%d is negative", c.MaxBatchSamples)
	}
	if c.MaxBatchDelay < 0 {
		p.Add("max_batch_delay", "%v is negative", c.MaxBatchDelay)
	}
	if c.MaxDeliveries < 0 {
		p.Add("max_deliveries", "%d is negative", c.MaxDeliveries)
	}
	if c.DrainTimeout < 0 {
		p.Add("drain_timeout", "%v is negative", c.DrainTimeout)
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = c.Topic + "-dlq"
	}
	if c.MaxBatchSamples == 0 {
		c.MaxBatchSamples = DefaultMaxBatchSamples
	}
	if c.MaxBatchDelay == 0 {
		c.MaxBatchDelay = DefaultMaxBatchDelay
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}
