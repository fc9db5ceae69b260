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

	"github.com/kiln-iot/kiln/backoff"
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
	ord     uint64 // acceptance order
	seq     int64  // sequence id, -1 until first sent
	probe   bool   // sent without a sequence id to learn the broker's last one
	msg     pulsar.ProducerMessage
	index   int
	done    func(int, error)
	sentGen uint64 // producer generation it was last handed to; 0: never sent
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
	link   link
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]

	// sendMu orders sequence ids with the sends that carry them and
	// guards producer. Callbacks never take it.
	sendMu   sync.Mutex
	producer pulsar.Producer

	mu       sync.Mutex // guards the fields below; taken inside sendMu, never around it
	gen      uint64     // producer generation; written under both locks
	pending  map[uint64]*pending
	nextOrd  uint64
	nextSeq  int64
	seqKnown bool // nextSeq is above the broker's last sequence id for our name
	probing  bool // a probe is in flight
	broken   bool // no usable producer; the loop (re)creates it
	closing  bool // Close started: Publish refuses
	closed   bool // the loop stops
	lastErr  error
	space    chan struct{} // closed when pending shrinks
	acked    uint64
	resent   uint64

	kick      chan struct{}
	stopped   context.Context // done once Close has begun
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
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
	client, l, err := cfg.Client.newClient(o.log)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg: cfg, o: o, client: client, link: l,
		pending: make(map[uint64]*pending),
		lastErr: errors.New("not connected yet"),
		broken:  true, // no producer yet
		space:   make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	p.stopped, p.stop = context.WithCancel(context.Background())
	p.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](cfg.Breaker.Settings("pulsar-publisher " + cfg.Topic))
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

// run owns the producer: it creates it, recreates it when it breaks
// (re-sending everything unconfirmed in sequence order), and sends what
// waited for the sequence-id probe.
func (p *Publisher) run() {
	defer p.wg.Done()
	attempt := 0
	for {
		select {
		case <-p.stopped.Done():
			return
		case <-p.kick:
		}
		for p.needsProducer() {
			if err := p.connect(); err != nil {
				p.setErr(err)
				p.record(err)
				p.o.log.Warn("pulsar: creating producer failed", zap.String("topic", p.cfg.Topic), zap.Int("attempt", attempt), zap.Error(err))
				d := backoff.Delay(p.cfg.Client.Retry, attempt, rand.Float64())
				attempt++
				if backoff.Sleep(p.stopped, p.o.clock, d) != nil {
					return
				}
				continue
			}
			attempt = 0
			p.record(nil)
		}
		p.sendMu.Lock()
		if p.producer != nil {
			p.dispatchLocked()
		}
		p.sendMu.Unlock()
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
	old := p.producer
	p.producer = nil
	p.sendMu.Unlock()
	if old != nil {
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
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.producer = prod
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil // Close closes prod
	}
	p.gen++
	p.broken = false
	p.lastErr = nil
	var resend []*pending
	for _, m := range p.pending {
		if m.sentGen != 0 {
			resend = append(resend, m)
		}
	}
	p.resent += uint64(len(resend))
	p.mu.Unlock()
	sort.Slice(resend, func(i, j int) bool { return resend[i].ord < resend[j].ord })
	if len(resend) > 0 {
		p.o.log.Info("pulsar: re-sending unconfirmed messages", zap.Int("count", len(resend)))
	}
	for _, m := range resend {
		p.sendLocked(m, true)
	}
	p.dispatchLocked()
	return nil
}

// dispatchLocked sends the messages never sent, in order. Until the
// broker's last sequence id for our producer name is known, it sends only
// one message, without a sequence id: the client numbers it after the
// broker's last, and its receipt tells us where to continue. Called with
// sendMu held and a producer.
func (p *Publisher) dispatchLocked() {
	p.mu.Lock()
	if p.broken || p.closed || p.probing {
		p.mu.Unlock()
		return
	}
	var fresh []*pending
	for _, m := range p.pending {
		if m.sentGen == 0 {
			fresh = append(fresh, m)
		}
	}
	known := p.seqKnown
	p.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].ord < fresh[j].ord })
	if !known {
		p.mu.Lock()
		p.probing = true
		fresh[0].probe = true
		p.mu.Unlock()
		p.sendLocked(fresh[0], false)
		return
	}
	for _, m := range fresh {
		p.sendLocked(m, false)
	}
}

// sendLocked hands m to the current producer. A re-send goes unbatched: a
// batch is deduplicated by its first sequence id only, so a re-send
// packed with new messages could be dropped whole. Called with sendMu held.
func (p *Publisher) sendLocked(m *pending, resend bool) {
	prod := p.producer
	p.mu.Lock()
	gen := p.gen
	m.sentGen = gen
	if m.seq < 0 && !m.probe {
		m.seq = p.nextSeq
		p.nextSeq++
	}
	msg := m.msg // the client may hold the previous copy
	if m.seq >= 0 {
		seq := m.seq
		msg.SequenceID = &seq
	}
	p.mu.Unlock()
	if resend {
		msg.ReplicationClusters = []string{}
	}
	ord := m.ord
	prod.SendAsync(context.Background(), &msg, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
		p.completed(ord, gen, prod, err)
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
func (p *Publisher) completed(ord, gen uint64, prod pulsar.Producer, err error) {
	p.mu.Lock()
	m := p.pending[ord]
	if m == nil { // confirmed already, through another send of the same message
		p.mu.Unlock()
		return
	}
	if err != nil && !permanent(err) {
		if gen == p.gen && !p.broken && !p.closed {
			p.broken = true
			p.lastErr = err
			p.mu.Unlock()
			p.o.log.Warn("pulsar: send failed; recreating the producer", zap.Uint64("message", ord), zap.Error(err))
			p.record(err)
			p.poke()
			return
		}
		p.mu.Unlock()
		return
	}
	delete(p.pending, ord)
	if m.probe {
		if err == nil {
			// The client numbered the probe after the broker's last
			// sequence id for our name; continue after it.
			if last := prod.LastSequenceID(); last+1 > p.nextSeq {
				p.nextSeq = last + 1
			}
			p.seqKnown = true
		}
		// A refused probe taught nothing: the next message probes again.
		p.probing = false
		p.poke()
	}
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
		if p.closing {
			p.mu.Unlock()
			return transport.ErrClosed
		}
		if p.cb.State() == gobreaker.StateOpen {
			err := p.lastErr
			p.mu.Unlock()
			return fmt.Errorf("%w: circuit open after %w", ErrUnavailable, err)
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
	if p.closing {
		p.mu.Unlock()
		return transport.ErrClosed
	}
	for i, m := range msgs {
		p.pending[p.nextOrd] = &pending{
			ord: p.nextOrd, seq: -1, index: i, done: done,
			msg: pulsar.ProducerMessage{Payload: m.Payload, Key: m.Key, Properties: m.Properties, EventTime: m.EventTime},
		}
		p.nextOrd++
	}
	p.mu.Unlock()
	if p.producer != nil {
		p.dispatchLocked()
	}
	return nil
}

// Health returns nil while the producer is connected and sending, and
// otherwise an error wrapping ErrUnavailable with the last failure. A
// lost connection counts even while nothing is being sent; a dead link is
// noticed within about twice ClientConfig.KeepAlive.
func (p *Publisher) Health() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return transport.ErrClosed
	}
	if p.cb.State() == gobreaker.StateOpen {
		return fmt.Errorf("%w: circuit open: %w", ErrUnavailable, p.lastErr)
	}
	if p.broken || p.lastErr != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, p.lastErr)
	}
	if !p.link.up() {
		return fmt.Errorf("%w: no connection to %s; reconnecting", ErrUnavailable, p.cfg.Client.URL)
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
	p.closeOnce.Do(p.shutdown)
	return nil
}

func (p *Publisher) shutdown() {
	p.mu.Lock()
	p.closing = true
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
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.wg.Wait()
	p.sendMu.Lock()
	if p.producer != nil {
		p.producer.Close()
		p.producer = nil
	}
	p.sendMu.Unlock()
	p.mu.Lock()
	left := p.pending
	p.pending = map[uint64]*pending{}
	p.mu.Unlock()
	for _, m := range left {
		m.done(m.index, transport.ErrClosed)
	}
	p.client.Close()
}
