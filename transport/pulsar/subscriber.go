package pulsar

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/apache/pulsar-client-go/pulsar"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/transport"
)

// Subscriber is a transport.Subscriber over a Pulsar consumer. Creation
// does not wait for the broker: the consumer is subscribed in the
// background, and Receive waits for it.
type Subscriber struct {
	cfg    SubscriberConfig
	o      options
	client pulsar.Client
	link   link

	mu       sync.Mutex
	consumer pulsar.Consumer
	lastErr  error
	closed   bool
	ready    chan struct{} // closed once consumer is set

	stopped context.Context // done once Close has begun
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// NewSubscriber returns a Subscriber for cfg.
func NewSubscriber(cfg SubscriberConfig, opts ...Option) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := buildOptions(opts)
	client, l, err := cfg.Client.newClient(o.log)
	if err != nil {
		return nil, err
	}
	s := &Subscriber{
		cfg: cfg, o: o, client: client, link: l,
		lastErr: errors.New("not subscribed yet"),
		ready:   make(chan struct{}),
	}
	s.stopped, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.subscribe()
	return s, nil
}

func (s *Subscriber) options() pulsar.ConsumerOptions {
	types := map[string]pulsar.SubscriptionType{
		Shared: pulsar.Shared, KeyShared: pulsar.KeyShared, Failover: pulsar.Failover, Exclusive: pulsar.Exclusive,
	}
	o := pulsar.ConsumerOptions{
		Topic:               s.cfg.Topic,
		SubscriptionName:    s.cfg.Subscription,
		Type:                types[s.cfg.Type],
		ReceiverQueueSize:   s.cfg.ReceiverQueueSize,
		NackRedeliveryDelay: s.cfg.NackDelay,
	}
	if s.cfg.Earliest {
		o.SubscriptionInitialPosition = pulsar.SubscriptionPositionEarliest
	}
	if s.cfg.MaxRedeliveries > 0 {
		// The client counts deliveries: the first plus MaxRedeliveries.
		o.DLQ = &pulsar.DLQPolicy{MaxDeliveries: uint32(s.cfg.MaxRedeliveries + 1), DeadLetterTopic: s.cfg.DeadLetterTopic}
	}
	return o
}

// subscribe creates the consumer, retrying with backoff.
func (s *Subscriber) subscribe() {
	defer s.wg.Done()
	for attempt := 0; ; attempt++ {
		c, err := s.client.Subscribe(s.options())
		if err == nil {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.consumer, s.lastErr = c, nil
			close(s.ready)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		s.o.log.Warn("pulsar: subscribing failed", zap.String("topic", s.cfg.Topic), zap.Int("attempt", attempt), zap.Error(err))
		if backoff.Sleep(s.stopped, s.o.clock, backoff.Delay(s.cfg.Client.Retry, attempt, rand.Float64())) != nil {
			return
		}
	}
}

// Health returns nil while subscribed and connected. Before the consumer
// is created it returns an error wrapping ErrUnavailable with the last
// failure; afterwards, while the client has no open connection to a
// broker (the link or the broker is down and the client is reconnecting),
// an error wrapping ErrUnavailable too. A dead link is noticed within
// about twice ClientConfig.KeepAlive.
func (s *Subscriber) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return transport.ErrClosed
	}
	if s.consumer == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, s.lastErr)
	}
	if !s.link.up() {
		return fmt.Errorf("%w: no connection to %s; reconnecting", ErrUnavailable, s.cfg.Client.URL)
	}
	return nil
}

// Receive implements transport.Subscriber.
func (s *Subscriber) Receive(ctx context.Context) (transport.Delivery, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stopped.Done():
		return nil, transport.ErrClosed
	case <-s.ready:
	}
	s.mu.Lock()
	c := s.consumer
	s.mu.Unlock()
	if c == nil {
		return nil, transport.ErrClosed
	}
	// The client's Receive does not end on Close: stop waiting then too.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopped, cancel)()
	m, err := c.Receive(rctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		select {
		case <-s.stopped.Done():
			return nil, transport.ErrClosed
		default:
		}
		return nil, fmt.Errorf("pulsar: receive from %s: %w", s.cfg.Topic, err)
	}
	return delivery{c: c, m: m}, nil
}

// Serve runs handler on received messages, Concurrency at a time, until
// ctx is done: a message is acknowledged after handler returns nil and
// nacked (redelivered after NackDelay, or moved to the dead-letter topic
// after MaxRedeliveries) when it returns an error. It returns nil when ctx
// is done and transport.ErrClosed after Close.
func (s *Subscriber) Serve(ctx context.Context, handler func(context.Context, transport.Message) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, s.cfg.Concurrency)
	for i := 0; i < s.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := s.Receive(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if herr := handler(ctx, d.Message()); herr != nil {
					s.o.log.Info("pulsar: handler failed; message nacked", zap.Int("redeliveries", d.Redeliveries()), zap.Error(herr))
					_ = d.Nack()
					continue
				}
				if err := d.Ack(); err != nil {
					s.o.log.Warn("pulsar: ack failed", zap.Error(err))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if ctx.Err() != nil {
		return nil
	}
	return <-errs
}

// Close stops receiving and closes the consumer (unacknowledged messages
// go to other consumers or the next subscriber) and the client. It is
// idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.stop()
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	c := s.consumer
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
	s.client.Close()
	return nil
}

type delivery struct {
	c pulsar.Consumer
	m pulsar.Message
}

func (d delivery) Message() transport.Message {
	return transport.Message{Key: d.m.Key(), Payload: d.m.Payload(), Properties: d.m.Properties(), EventTime: d.m.EventTime()}
}

func (d delivery) Ack() error {
	if err := d.c.Ack(d.m); err != nil {
		return fmt.Errorf("pulsar: ack: %w", err)
	}
	return nil
}

func (d delivery) Nack() error {
	d.c.Nack(d.m)
	return nil
}

func (d delivery) Redeliveries() int { return int(d.m.RedeliveryCount()) }
