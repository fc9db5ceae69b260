package pulsar

import (
	"fmt"
	"os"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// ClientConfig says how to reach the broker. Zero fields take defaults
// tuned for 4G and VPN links, where the client's own defaults take 60–90 s
// to notice a dead link.
type ClientConfig struct {
	// URL is the broker's service URL, e.g. pulsar://broker:6650. Required.
	URL string `yaml:"url"`
	// Token authenticates with Pulsar's token method; empty for none.
	Token string `yaml:"token"`
	// ConnectionTimeout bounds a TCP connect (default 5s).
	ConnectionTimeout time.Duration `yaml:"connection_timeout"`
	// OperationTimeout bounds lookups and producer/consumer creation
	// (default 10s).
	OperationTimeout time.Duration `yaml:"operation_timeout"`
	// KeepAlive is the ping interval; a link silent for about twice as
	// long is dropped and redialled (default 5s, so a dead link is noticed
	// within 10–15 s).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// Retry shapes the delays between attempts to create the producer or
	// consumer while the broker is unreachable (defaults of
	// package backoff: 100ms doubling to 30s).
	Retry backoff.Config `yaml:"retry"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path.
func (c ClientConfig) Validate() error {
	var p config.Problems
	if c.URL == "" {
		p.Add("url", "is required (pulsar://host:6650)")
	}
	negative(&p, "connection_timeout", c.ConnectionTimeout)
	negative(&p, "operation_timeout", c.OperationTimeout)
	negative(&p, "keep_alive", c.KeepAlive)
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

// newClient makes the client of a Publisher or Subscriber, and the link
// that reads the connection metrics that client registers.
func (c ClientConfig) newClient(log *zap.Logger) (pulsar.Client, link, error) {
	l := newLink()
	client, err := pulsar.NewClient(c.options(log, l.reg))
	if err != nil {
		return nil, link{}, fmt.Errorf("pulsar: client for %s: %w", c.URL, err)
	}
	return client, l, nil
}

func (c ClientConfig) options(log *zap.Logger, reg prometheus.Registerer) pulsar.ClientOptions {
	o := pulsar.ClientOptions{
		URL:               c.URL,
		MetricsRegisterer: reg,
		ConnectionTimeout: or(c.ConnectionTimeout, 5*time.Second),
		OperationTimeout:  or(c.OperationTimeout, 10*time.Second),
		KeepAliveInterval: or(c.KeepAlive, 5*time.Second),
		Logger:            newLogAdapter(log),
	}
	if c.Token != "" {
		o.Authentication = pulsar.NewAuthenticationToken(c.Token)
	}
	return o
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Compression names accepted in PublisherConfig.Compression.
const (
	CompressionLZ4  = "lz4"
	CompressionZSTD = "zstd"
	CompressionNone = "none"
)

// PublisherConfig configures a Publisher. Zero fields take the documented
// defaults.
type PublisherConfig struct {
	Client ClientConfig `yaml:"client"`
	// Topic is the full topic name, persistent://tenant/namespace/topic. Required.
	Topic string `yaml:"topic"`
	// ProducerName must stay the same across restarts of the gateway so
	// the broker can deduplicate by producer name and sequence id
	// (default "kiln-" + host name).
	ProducerName string `yaml:"producer_name"`
	// Compression is lz4 (default), zstd (smaller, for thin links) or none.
	Compression string `yaml:"compression"`
	// DisableBatching sends every message in its own frame.
	DisableBatching bool `yaml:"disable_batching"`
	// BatchMaxMessages caps a batch (default 1000).
	BatchMaxMessages int `yaml:"batch_max_messages"`
	// BatchMaxDelay is how long a batch may wait to fill (default 10ms).
	BatchMaxDelay time.Duration `yaml:"batch_max_delay"`
	// MaxPending caps messages accepted and not yet confirmed; Publish
	// blocks beyond it (default 10000).
	MaxPending int `yaml:"max_pending"`
	// SendTimeout is how long a message may wait for its receipt before
	// the producer is recreated and the message sent again with the same
	// sequence id (default 30s).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// CloseTimeout bounds how long Close waits for receipts (default 10s).
	CloseTimeout time.Duration `yaml:"close_timeout"`
	// Breaker is the circuit breaker in front of the broker (defaults 5
	// failures, open for 10s).
	Breaker breaker.Config `yaml:"breaker"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (client.url, breaker.open_for).
func (c PublisherConfig) Validate() error {
	var p config.Problems
	p.Nest("client", c.Client.Validate())
	if c.Topic == "" {
		p.Add("topic", "is required")
	}
	switch c.Compression {
	case "", CompressionLZ4, CompressionZSTD, CompressionNone:
	default:
		p.Add("compression", "%q is not lz4, zstd or none", c.Compression)
	}
	negative(&p, "batch_max_messages", c.BatchMaxMessages)
	negative(&p, "max_pending", c.MaxPending)
	negative(&p, "batch_max_delay", c.BatchMaxDelay)
	negative(&p, "send_timeout", c.SendTimeout)
	negative(&p, "close_timeout", c.CloseTimeout)
	p.Nest("breaker", c.Breaker.Validate())
	return p.Err()
}

// negative records a problem with the field at path when v is below 0.
func negative[T int | time.Duration](p *config.Problems, path string, v T) {
	if v < 0 {
		p.Add(path, "%v is negative", v)
	}
}

func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.ProducerName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "gateway"
		}
		c.ProducerName = "kiln-" + h
	}
	if c.Compression == "" {
		c.Compression = CompressionLZ4
	}
	if c.BatchMaxMessages == 0 {
		c.BatchMaxMessages = 1000
	}
	c.BatchMaxDelay = or(c.BatchMaxDelay, 10*time.Millisecond)
	if c.MaxPending == 0 {
		c.MaxPending = 10000
	}
	c.SendTimeout = or(c.SendTimeout, 30*time.Second)
	c.CloseTimeout = or(c.CloseTimeout, 10*time.Second)
	return c
}

// Subscription types accepted in SubscriberConfig.Type.
const (
	Shared    = "shared"
	KeyShared = "key_shared"
	Failover  = "failover"
	Exclusive = "exclusive"
)

// SubscriberConfig configures a Subscriber. Zero fields take the
// documented defaults.
type SubscriberConfig struct {
	Client ClientConfig `yaml:"client"`
	// Topic is the full topic name. Required.
	Topic string `yaml:"topic"`
	// Subscription names the subscription. Required.
	Subscription string `yaml:"subscription"`
	// Type is shared (default), key_shared, failover or exclusive.
	Type string `yaml:"type"`
	// Earliest starts a new subscription at the oldest retained message
	// instead of the next one published.
	Earliest bool `yaml:"earliest"`
	// ReceiverQueueSize is how many messages the broker may push ahead
	// (default 1000).
	ReceiverQueueSize int `yaml:"receiver_queue_size"`
	// NackDelay is how long a nacked message waits before redelivery
	// (default 1s).
	NackDelay time.Duration `yaml:"nack_delay"`
	// MaxRedeliveries, when positive, moves a message delivered that many
	// times more without an ack to DeadLetterTopic.
	MaxRedeliveries int `yaml:"max_redeliveries"`
	// DeadLetterTopic defaults to Topic + "-" + Subscription + "-DLQ".
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Concurrency is how many handlers Serve runs at once (default 1).
	Concurrency int `yaml:"concurrency"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path.
func (c SubscriberConfig) Validate() error {
	var p config.Problems
	p.Nest("client", c.Client.Validate())
	if c.Topic == "" {
		p.Add("topic", "is required")
	}
	if c.Subscription == "" {
		p.Add("subscription", "is required")
	}
	switch c.Type {
	case "", Shared, KeyShared, Failover, Exclusive:
	default:
		p.Add("type", "%q is not shared, key_shared, failover or exclusive", c.Type)
	}
	negative(&p, "receiver_queue_size", c.ReceiverQueueSize)
	negative(&p, "nack_delay", c.NackDelay)
	negative(&p, "max_redeliveries", c.MaxRedeliveries)
	negative(&p, "concurrency", c.Concurrency)
	return p.Err()
}

func (c SubscriberConfig) withDefaults() SubscriberConfig {
	if c.Type == "" {
		c.Type = Shared
	}
	if c.ReceiverQueueSize == 0 {
		c.ReceiverQueueSize = 1000
	}
	c.NackDelay = or(c.NackDelay, time.Second)
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = c.Topic + "-" + c.Subscription + "-DLQ"
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	return c
}

// Option sets a code-only setting of a Publisher or Subscriber.
type Option func(*options)

type options struct {
	log   *zap.Logger
	clock clock.Clock
}

// WithLogger logs through l (default zap.NewNop()); the client's own
// logging goes there too.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock for retry delays (default the real one).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

func buildOptions(opts []Option) options {
	o := options{log: zap.NewNop(), clock: clock.Real}
	for _, f := range opts {
		f(&o)
	}
	return o
}
