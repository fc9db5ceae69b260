package batcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// Defaults of Config.
const (
	// DefaultMaxBatch keeps one spooled message well under the spool's and
	// the broker's size limits.
	DefaultMaxBatch = 4096
	// DefaultBacklogBytes bounds the batches held in memory while the
	// spool refuses appends.
	DefaultBacklogBytes = 32 << 20
)

// DefaultRetry times the retries of a refused append.
var DefaultRetry = backoff.Config{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// flushChunk bounds the records of one append of the backlog, so that a
// nearly full disk still takes part of it.
const flushChunk = 16

// Config shapes a Batcher. Source and Tenant are required; the zero value
// of every other field means its documented default.
type Config struct {
	// Source names the batches' origin (the gateway's id).
	Source string `yaml:"source"`
	// Tenant is the tenant the batches belong to.
	Tenant string `yaml:"tenant"`
	// MaxBatch is the most samples one batch holds (default 4096); a
	// larger call is split.
	MaxBatch int `yaml:"max_batch"`
	// BacklogBytes bounds the encoded batches held in memory while the
	// spool refuses appends (default 32 MiB); beyond it the oldest are
	// dropped, counted and logged.
	BacklogBytes int `yaml:"backlog_bytes"`
	// Retry times the retries of a backlog the spool refuses (default
	// 250ms growing to 5s). An attempt that wrote part of the backlog
	// starts the delays afresh.
	Retry backoff.Config `yaml:"retry"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.Source == "" {
		p.Add("source", "is required")
	}
	if c.Tenant == "" {
		p.Add("tenant", "is required")
	}
	if c.MaxBatch < 0 {
		p.Add("max_batch", "%d is negative", c.MaxBatch)
	}
	if c.BacklogBytes < 0 {
		p.Add("backlog_bytes", "%d is negative", c.BacklogBytes)
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.BacklogBytes == 0 {
		c.BacklogBytes = DefaultBacklogBytes
	}
	if c.Retry == (backoff.Config{}) {
		c.Retry = DefaultRetry
	}
	return c
}

// Option sets a code-only setting of New.
type Option func(*Batcher)

// WithLogger logs refusals, drops and recoveries through l (default
// none).
func WithLogger(l *zap.Logger) Option { return func(b *Batcher) { b.log = l } }

// WithClock sets the clock of the retry delays and of the sequence
// numbers' start (default the system clock).
func WithClock(c clock.Clock) Option { return func(b *Batcher) { b.clk = c } }

// Stats are a Batcher's counters.
type Stats struct {
	// SamplesSpooled counts samples durably appended to the spool.
	SamplesSpooled uint64
	// MessagesSpooled counts spooled messages: batches and those of
	// AppendMessage.
	MessagesSpooled uint64
	// Failures counts appends the spool refused.
	Failures uint64
	// SamplesHeld is the samples waiting in memory for the spool.
	SamplesHeld int64
	// BytesHeld is the size of the batches held.
	BytesHeld int64
	// SamplesDropped counts samples lost from a full backlog.
	SamplesDropped uint64
}

// Batcher is a plc.Sink that encodes samples as wire batches and appends
// them to a spool, durable before WriteSamples returns. When the spool
// refuses (disk full, read-only) it holds the batches in a bounded
// backlog that Serve retries. Make one with New.
type Batcher struct {
	cfg Config
	sp  *spool.Spool
	log *zap.Logger
	clk clock.Clock

	mu           sync.Mutex
	seq          uint64
	epoch        uint64   // this run's sequence: a new one at every start
	buf          []byte   // the last batch's payload, reused
	recBufs      [][]byte // the last call's spool records, reused
	backlog      []pending
	backlogBytes int
	kick         chan struct{} // a backlog began
	lastErrLog   time.Time

	samples  atomic.Uint64
	messages atomic.Uint64
	failures atomic.Uint64
	dropped  atomic.Uint64
	held     atomic.Int64
	heldB    atomic.Int64
	lastErr  atomic.Pointer[error]
}

// pending is one encoded batch waiting for the spool.
type pending struct {
	rec     []byte
	samples int
}

// New returns a Batcher appending to sp.
func New(sp *spool.Spool, cfg Config, opts ...Option) (*Batcher, error) {
	if sp == nil {
		return nil, errors.New("batcher: nil spool")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Batcher{cfg: cfg.withDefaults(), sp: sp, log: zap.NewNop(), kick: make(chan struct{}, 1)}
	for _, o := range opts {
		o(b)
	}
	b.clk = clock.Or(b.clk)
	// Sequence numbers start at the clock so they keep increasing across
	// restarts without persisting them; a random epoch per start keeps
	// (source, epoch, seq) unique even when the clock was set back.
	b.seq = uint64(b.clk.Now().UnixNano())
	b.epoch = newEpoch()
	return b, nil
}

// MaxBatch returns the most samples one batch holds.
func (b *Batcher) MaxBatch() int { return b.cfg.MaxBatch }

// WriteSamples implements plc.Sink. It does not fail: a batch the spool
// refuses (or that ctx canceled) waits in the backlog, behind which
// later batches queue, so order is kept.
func (b *Batcher) WriteSamples(ctx context.Context, samples []plc.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// The records are encoded into buffers reused from call to call: the
	// spool copies what it appends, so only records that go to the
	// backlog need their own memory (own).
	var recs []pending
	for i, start := 0, 0; start < len(samples); i, start = i+1, start+b.cfg.MaxBatch {
		end := min(start+b.cfg.MaxBatch, len(samples))
		b.seq++
		msg := wire.ToMessage(&wire.Batch{Source: b.cfg.Source, Tenant: b.cfg.Tenant, Seq: b.seq, Epoch: b.epoch, Samples: samples[start:end]}, b.buf)
		b.buf = msg.Payload[:0]
		if i == len(b.recBufs) {
			b.recBufs = append(b.recBufs, nil)
		}
		b.recBufs[i] = spool.AppendMessage(b.recBufs[i][:0], msg)
		recs = append(recs, pending{rec: b.recBufs[i], samples: end - start})
	}
	if len(b.backlog) > 0 { // keep the order: behind what waits
		b.hold(own(recs))
		return nil
	}
	if err := b.appendLocked(ctx, recs); err != nil {
		// Canceled (the poller stops) or refused: either way the batch
		// waits for Serve, which also makes a last attempt on shutdown.
		if ctx.Err() == nil {
			b.refused(err, len(samples))
		}
		b.hold(own(recs))
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// own gives recs their own copies of the reused record buffers.
func own(recs []pending) []pending {
	for i := range recs {
		recs[i].rec = bytes.Clone(recs[i].rec)
	}
	return recs
}

// appendLocked appends recs to the spool in one call and counts them.
func (b *Batcher) appendLocked(ctx context.Context, recs []pending) error {
	raw := make([][]byte, len(recs))
	n := 0
	for i, r := range recs {
		raw[i] = r.rec
		n += r.samples
	}
	if err := b.sp.Append(ctx, raw...); err != nil {
		return err
	}
	b.samples.Add(uint64(n))
	b.messages.Add(uint64(len(recs)))
	return nil
}

// refused records a failed append: counted, logged (at most every 10 s
// while it lasts), reported by Health.
func (b *Batcher) refused(err error, samples int) {
	b.failures.Add(1)
	err = fmt.Errorf("spool refused %d samples: %w", samples, err)
	b.lastErr.Store(&err)
	if now := b.clk.Now(); now.Sub(b.lastErrLog) >= 10*time.Second {
		b.lastErrLog = now
		b.log.Error("spool append failed; holding batches in memory and retrying", zap.Error(err),
			zap.Int64("held_samples", b.held.Load()), zap.Int("held_bytes", b.backlogBytes))
	}
}

// hold queues recs in the backlog, dropping the oldest batches beyond its
// bound. b.mu is held.
func (b *Batcher) hold(recs []pending) {
	for _, r := range recs {
		b.backlog = append(b.backlog, r)
		b.backlogBytes += len(r.rec)
		b.held.Add(int64(r.samples))
	}
	var drop, dropBytes, dropSamples int
	for b.backlogBytes-dropBytes > b.cfg.BacklogBytes && drop < len(b.backlog) {
		dropBytes += len(b.backlog[drop].rec)
		dropSamples += b.backlog[drop].samples
		drop++
	}
	if drop > 0 {
		clear(b.backlog[:drop])
		b.backlog = b.backlog[drop:]
		b.backlogBytes -= dropBytes
		b.held.Add(-int64(dropSamples))
		total := b.dropped.Add(uint64(dropSamples))
		b.log.Error("spool backlog full: samples dropped", zap.Int("dropped", dropSamples), zap.Int("batches", drop),
			zap.Uint64("dropped_total", total), zap.Int("backlog_bytes_limit", b.cfg.BacklogBytes))
	}
	b.heldB.Store(int64(b.backlogBytes))
}

// Serve retries the backlog until ctx is done: after a refused attempt
// it waits as Config.Retry says, the delay growing while the spool takes
// nothing and starting afresh whenever an attempt wrote part of the
// backlog, so that once space returns the backlog drains as fast as the
// spool frees it. On the way out it tries once more; what the spool still
// refuses is counted and logged as dropped. It returns nil.
func (b *Batcher) Serve(ctx context.Context) error {
	rnd := rand.New(rand.NewPCG(uint64(b.clk.Now().UnixNano()), 0))
	for {
		select {
		case <-ctx.Done():
			b.final()
			return nil
		case <-b.kick:
		}
		for attempt := 0; ; attempt++ {
			if backoff.Sleep(ctx, b.clk, backoff.Delay(b.cfg.Retry, attempt, rnd.Float64())) != nil {
				b.final()
				return nil
			}
			wrote, empty := b.flush(ctx)
			if empty {
				break
			}
			if wrote {
				attempt = -1 // the next delay is the first one again
			}
		}
	}
}

// flush appends the backlog to the spool, in order, as far as the spool
// takes it; it reports whether it wrote any of it and whether the backlog
// is now empty.
func (b *Batcher) flush(ctx context.Context) (wrote, empty bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.backlog) == 0 {
		b.lastErr.Store(nil)
		return false, true
	}
	for len(b.backlog) > 0 {
		n := min(len(b.backlog), flushChunk)
		if err := b.appendLocked(ctx, b.backlog[:n]); err != nil {
			if ctx.Err() == nil {
				b.refused(err, int(b.held.Load()))
			}
			return wrote, false
		}
		wrote = true
		var samples int
		for i := range n {
			b.backlogBytes -= len(b.backlog[i].rec)
			samples += b.backlog[i].samples
		}
		b.held.Add(-int64(samples))
		b.heldB.Store(int64(b.backlogBytes))
		clear(b.backlog[:n])
		b.backlog = b.backlog[n:]
	}
	b.backlog = nil
	b.lastErr.Store(nil)
	b.log.Info("spool appends resumed; backlog written")
	return wrote, true
}

// final makes the last attempt at the backlog when Serve stops.
func (b *Batcher) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, empty := b.flush(ctx); empty {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.held.Swap(0)
	if n == 0 {
		return
	}
	total := b.dropped.Add(uint64(n))
	b.log.Error("stopping with samples the spool refused: dropped", zap.Int64("dropped", n), zap.Uint64("dropped_total", total))
	b.backlog, b.backlogBytes = nil, 0
	b.heldB.Store(0)
}

// AppendMessage spools one message that is not a batch (an audit
// record), durable when it returns nil. It is not held on refusal: the
// caller decides.
func (b *Batcher) AppendMessage(ctx context.Context, m transport.Message) error {
	if err := b.sp.Append(ctx, spool.AppendMessage(nil, m)); err != nil {
		return err
	}
	b.messages.Add(1)
	return nil
}

// Health reports whether the spool takes appends: nil unless the last
// append failed and its batches still wait in the backlog.
func (b *Batcher) Health() error {
	if p := b.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns the counters.
func (b *Batcher) Stats() Stats {
	return Stats{SamplesSpooled: b.samples.Load(), MessagesSpooled: b.messages.Load(), Failures: b.failures.Load(),
		SamplesHeld: b.held.Load(), BytesHeld: b.heldB.Load(), SamplesDropped: b.dropped.Load()}
}

// newEpoch returns a random, non-zero epoch.
func newEpoch() uint64 {
	for {
		if e := rand.Uint64(); e != 0 {
			return e
		}
	}
}
