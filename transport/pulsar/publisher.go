package pulsar

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/internal/backoff"
	"github.com/kiln-iot/kiln/transport"
)

// Errors of this package.
var (
	// ErrUnavailable: the broker cannot be reached now (not connected yet,
	// or the circuit breaker is open). Nothing was accepted.
	ErrUnavailable = errors.New("pulsar: broker unavailable")
)

// pending is a message accepted and not yet confirmed.
type pending struct {
	seq     int64
	msg     *pulsar.ProducerMessage
	index   int
	done    func(int, error)
	sentGen uint64 // producer generation it was last handed to
}

// Publisher is a transport.Publisher over a Pulsar producer. It keeps
// every accepted message until the broker's receipt, re-sends it with the
// same sequence id after a timeout or a broken producer (the broker drops
// the copies it already has), recreates the producer instead of giving up
// on it, and starts even when the broker is down.
type Publisher struct {
	cfg    PublisherConfig
	o      options
	client pulsar.Client
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]

	// sendMu orders sequence ids with the sends that carry them; it
	// guards producer and gen. Callbacks never take it.
	sendMu   sync.Mutex
	producer pulsar.Producer
	gen      uint64

	mu      sync.Mutex // guards the fields below; taken inside sendMu, never around it
	pending map[int64]*pending
	nextSeq int64
	broken  bool // the current producer failed; the loop recreates it
	closed  bool
	lastErr error
	space   chan struct{} // closed when pending shrinks
	acked   uint64
	resent  uint64

	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
}

// NewPublisher returns a Publisher for cfg. It does not wait for the
// broker: the producer is created in the background, retried with backoff,
// and Health reports ErrUnavailable until it exists.
func NewPublisher(cfg PublisherConfig, opts ...Option) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := buildOptions(opts)
	client, err := pulsar.NewClient(cfg.Client.options(o.log))
	if err != nil {
		return nil, fmt.Errorf("pulsar: client for %s: %w", cfg.Client.URL, err)
	}
	p := &Publisher{
		cfg: cfg, o: o, client: client,
		pending: make(map[int64]*pending),
		// Sequence ids only grow, also across restarts of the process, as
		// long as fewer than a million messages a second are sent on
		// average; the broker drops any id not above the last it stored.
		nextSeq: o.clock.Now().UnixMicro(),
		lastErr: errors.New("not connected yet"),
		broken:  true, // no producer yet
		space:   make(chan struct{}),
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
	}
	p.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    "pulsar-publisher " + cfg.Topic,
		Timeout: cfg.Breaker.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.Breaker.Failures
		},
	})
	p.wg.Add(1)
	go p.run()
	p.poke()
	return p, nil
}

func (p *Publisher) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// record tells the breaker about an outcome (nil for a success).
func (p *Publisher) record(outcome error) {
	if done, err := p.cb.Allow(); err == nil {
		done(outcome)
	}
}

// run owns the producer: it creates it, and recreates it when it breaks,
// re-sending everything unconfirmed in sequence order.
func (p *Publisher) run() {
	defer p.wg.Done()
	attempt := 0
	for {
		select {
		case <-p.quit:
			return
		case <-p.kick:
		}
		for p.needsProducer() {
			if err := p.connect(); err != nil {
				p.setErr(err)
				p.record(err)
				p.o.log.Warn("pulsar: creating producer failed", zap.String("topic", p.cfg.Topic), zap.Int("attempt", attempt), zap.Error(err))
				t := p.o.clock.NewTimer(backoff.Delay(p.cfg.Client.Retry, attempt, rand.Float64()))
				attempt++
				select {
				case <-p.quit:
					t.Stop()
					return
				case <-t.C():
				}
				continue
			}
			attempt = 0
			p.record(nil)
		}
	}
}

func (p *Publisher) needsProducer() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && p.broken
}

func (p *Publisher) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// connect replaces the producer and re-sends what is unconfirmed.
func (p *Publisher) connect() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if old := p.producer; old != nil {
		p.producer = nil
		old.Close() // fails its pending sends; their callbacks see an old generation
	}
	comp := map[string]pulsar.CompressionType{
		CompressionLZ4: pulsar.LZ4, CompressionZSTD: pulsar.ZSTD, CompressionNone: pulsar.NoCompression,
	}[p.cfg.Compression]
	prod, err := p.client.CreateProducer(pulsar.ProducerOptions{
		Topic:                   p.cfg.Topic,
		Name:                    p.cfg.ProducerName,
		SendTimeout:             p.cfg.SendTimeout,
		DisableBatching:         p.cfg.DisableBatching,
		BatchingMaxMessages:     uint(p.cfg.BatchMaxMessages),
		BatchingMaxPublishDelay: p.cfg.BatchMaxDelay,
		MaxPendingMessages:      p.cfg.MaxPending,
		CompressionType:         comp,
	})
	if err != nil {
		return fmt.Errorf("pulsar: producer %s on %s: %w", p.cfg.ProducerName, p.cfg.Topic, err)
	}
	p.producer = prod
	p.mu.Lock()
	p.gen++
	p.broken = false
	p.lastErr = nil
	resend := make([]*pending, 0, len(p.pending))
	for _, m := range p.pending {
		if m.sentGen != 0 {
			resend = append(resend, m)
		}
	}
	p.mu.Unlock()
	sort.Slice(resend, func(i, j int) bool { return resend[i].seq < resend[j].seq })
	if len(resend) > 0 {
		p.o.log.Info("pulsar: re-sending unconfirmed messages", zap.Int("count", len(resend)))
	}
	// Messages never sent go out in the same order after the re-sends.
	var fresh []*pending
	p.mu.Lock()
	for _, m := range p.pending {
		if m.sentGen == 0 {
			fresh = append(fresh, m)
		}
	}
	p.resent += uint64(len(resend))
	p.mu.Unlock()
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].seq < fresh[j].seq })
	for _, m := range resend {
		// Unbatched: a batch is deduplicated by its first sequence id only,
		// so a re-send packed with new messages could be dropped whole.
		m.msg.ReplicationClusters = []string{}
		p.sendLocked(m)
	}
	for _, m := range fresh {
		p.sendLocked(m)
	}
	return nil
}

// sendLocked hands m to the current producer. Called with sendMu held.
func (p *Publisher) sendLocked(m *pending) {
	gen := p.gen
	p.mu.Lock()
	m.sentGen = gen
	p.mu.Unlock()
	p.producer.SendAsync(context.Background(), m.msg, func(id pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
		p.completed(m.seq, gen, err)
	})
}

// permanent tells errors that sending again cannot cure.
func permanent(err error) bool {
	var pe *pulsar.Error
	if errors.As(err, &pe) {
		switch pe.Result() {
		case pulsar.MessageTooBig, pulsar.InvalidMessage, pulsar.SchemaFailure:
			return true
		}
	}
	return false
}

// completed handles a send's outcome. A receipt from any generation
// confirms the message; a failure of the current producer breaks it.
func (p *Publisher) completed(seq int64, gen uint64, err error) {
	p.mu.Lock()
	m := p.pending[seq]
	if m == nil { // confirmed already, through another send of the same message
		p.mu.Unlock()
		return
	}
	if err != nil && !permanent(err) {
		if gen == p.gen && !p.broken && !p.closed {
			p.broken = true
			p.lastErr = err
			p.mu.Unlock()
			p.o.log.Warn("pulsar: send failed; recreating the producer", zap.Int64("seq", seq), zap.Error(err))
			p.record(err)
			p.poke()
			return
		}
		p.mu.Unlock()
		return
	}
	delete(p.pending, seq)
	if err == nil {
		p.acked++
	}
	if len(p.pending) < p.cfg.MaxPending {
		close(p.space)
		p.space = make(chan struct{})
	}
	p.mu.Unlock()
	if err == nil {
		p.record(nil)
		m.done(m.index, nil)
		return
	}
	m.done(m.index, fmt.Errorf("pulsar: message refused: %w", err))
}

// Publish implements transport.Publisher: done(i, nil) follows the
// broker's receipt for msgs[i]. It blocks while MaxPending messages are
// unconfirmed, and returns ErrUnavailable, accepting nothing, while the
// circuit breaker is open.
func (p *Publisher) Publish(ctx context.Context, msgs []transport.Message, done func(i int, err error)) error {
	if len(msgs) == 0 {
		return nil
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return transport.ErrClosed
		}
		if p.cb.State() == gobreaker.StateOpen {
			err := p.lastErr
			p.mu.Unlock()
			return fmt.Errorf("%w: circuit open after %v", ErrUnavailable, err)
		}
		if len(p.pending) < p.cfg.MaxPending {
			p.mu.Unlock()
			break
		}
		space := p.space
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-space:
		}
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return transport.ErrClosed
	}
	batch := make([]*pending, len(msgs))
	for i, m := range msgs {
		seq := p.nextSeq
		p.nextSeq++
		pm := &pulsar.ProducerMessage{
			Payload: m.Payload, Key: m.Key, Properties: m.Properties, EventTime: m.EventTime, SequenceID: &seq,
		}
		batch[i] = &pending{seq: seq, msg: pm, index: i, done: done}
		p.pending[seq] = batch[i]
	}
	ready := p.producer != nil && !p.broken
	p.mu.Unlock()
	if ready {
		for _, m := range batch {
			p.sendLocked(m)
		}
	}
	return nil
}

// Health returns nil while the producer is connected and sending, and
// otherwise an error wrapping ErrUnavailable with the last failure.
func (p *Publisher) Health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return transport.ErrClosed
	}
	if p.cb.State() == gobreaker.StateOpen {
		return fmt.Errorf("%w: circuit open: %v", ErrUnavailable, p.lastErr)
	}
	if p.broken || p.lastErr != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, p.lastErr)
	}
	return nil
}

// PublisherStatus is a snapshot of a Publisher.
type PublisherStatus struct {
	// Pending counts accepted messages awaiting a receipt.
	Pending int
	// Confirmed counts receipts.
	Confirmed uint64
	// Resent counts messages sent again after a producer was recreated.
	Resent uint64
	// Breaker is the circuit breaker's state: closed, half-open or open.
	Breaker string
	// Err is Health().
	Err error
}

// Status returns a snapshot for health pages and tests.
func (p *Publisher) Status() PublisherStatus {
	err := p.Health()
	p.mu.Lock()
	defer p.mu.Unlock()
	return PublisherStatus{Pending: len(p.pending), Confirmed: p.acked, Resent: p.resent, Breaker: p.cb.State().String(), Err: err}
}

// Close waits up to CloseTimeout for the receipts of accepted messages,
// fails the rest with transport.ErrClosed, and closes the producer and
// the client. It is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	deadline := time.Now().Add(p.cfg.CloseTimeout)
	for {
		p.mu.Lock()
		n, space := len(p.pending), p.space
		p.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
		p.sendMu.Lock()
		if p.producer != nil {
			// Send what waits in a batch now; the receipts come on space.
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_ = p.producer.FlushWithCtx(ctx)
			cancel()
		}
		p.sendMu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-space:
		case <-t.C:
		}
		t.Stop()
	}
	close(p.quit)
	p.wg.Wait()
	p.sendMu.Lock()
	if p.producer != nil {
		p.producer.Close()
		p.producer = nil
	}
	p.sendMu.Unlock()
	p.mu.Lock()
	left := p.pending
	p.pending = map[int64]*pending{}
	p.mu.Unlock()
	for _, m := range left {
		m.done(m.index, transport.ErrClosed)
	}
	p.client.Close()
	return nil
}
