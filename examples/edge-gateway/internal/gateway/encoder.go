package gateway

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// maxBatch is the most samples one spooled message holds, so a message
// stays well under the spool's and the broker's size limits.
const maxBatch = 4096

// defaultBacklogBytes bounds the encoded batches the encoder holds in
// memory while the spool refuses appends (disk full, read-only).
const defaultBacklogBytes = 32 << 20

// backoffCfg times the retries of a refused append.
var backoffCfg = backoff.Config{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

// encoder is the poller's and the subscriptions' sink: it encodes each
// batch (wire) and appends it to the spool, durable before it returns.
//
// When the spool refuses an append (its disk is full or read-only), the
// encoder keeps the encoded batches in a bounded in-memory backlog and
// returns nil, so polling goes on; serve retries the backlog with
// backoff, in order, and new batches queue behind it. While a backlog is
// held, healthy reports the error (/healthz is not ready). When the
// backlog would exceed its bound, the oldest batches are dropped: every
// dropped sample is counted (samplesDropped) and each drop is logged.
type encoder struct {
	sp             *spool.Spool
	source, tenant string
	log            *zap.Logger
	clk            clock.Clock
	maxBacklog     int // bytes

	mu           sync.Mutex
	seq          uint64
	buf          []byte   // the last batch's payload, reused
	recBufs      [][]byte // the last call's spool records, reused
	backlog      []pending
	backlogBytes int
	kick         chan struct{} // a backlog began
	lastErrLog   time.Time

	samples  atomic.Uint64 // samples spooled
	messages atomic.Uint64
	failures atomic.Uint64 // appends the spool refused
	dropped  atomic.Uint64 // samples dropped from a full backlog
	held     atomic.Int64  // samples in the backlog
	lastErr  atomic.Pointer[error]
}

// pending is one encoded batch waiting for the spool.
type pending struct {
	rec     []byte
	samples int
}

func newEncoder(sp *spool.Spool, source, tenant string, clk clock.Clock, log *zap.Logger) *encoder {
	// Sequence numbers start at the clock so they keep increasing across
	// restarts without persisting them.
	return &encoder{sp: sp, source: source, tenant: tenant, clk: clk, log: log, maxBacklog: defaultBacklogBytes,
		seq: uint64(clk.Now().UnixNano()), kick: make(chan struct{}, 1)}
}

// WriteSamples implements plc.Sink. It does not fail: a batch the spool
// refuses (or that ctx canceled) waits in the backlog.
func (e *encoder) WriteSamples(ctx context.Context, samples []plc.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// The records are encoded into buffers reused from call to call: the
	// spool copies what it appends, so only records that go to the
	// backlog need their own memory (ownRecs).
	var recs []pending
	for i, start := 0, 0; start < len(samples); i, start = i+1, start+maxBatch {
		end := min(start+maxBatch, len(samples))
		e.seq++
		msg := wire.ToMessage(&wire.Batch{Source: e.source, Tenant: e.tenant, Seq: e.seq, Samples: samples[start:end]}, e.buf)
		e.buf = msg.Payload[:0]
		if i == len(e.recBufs) {
			e.recBufs = append(e.recBufs, nil)
		}
		e.recBufs[i] = spool.AppendMessage(e.recBufs[i][:0], msg)
		recs = append(recs, pending{rec: e.recBufs[i], samples: end - start})
	}
	if len(e.backlog) > 0 { // keep the order: behind what waits
		e.hold(ownRecs(recs))
		return nil
	}
	if err := e.appendLocked(ctx, recs); err != nil {
		// Canceled (the poller stops) or refused: either way the batch
		// waits for serve, which also makes a last attempt on shutdown.
		if ctx.Err() == nil {
			e.refused(err, len(samples))
		}
		e.hold(ownRecs(recs))
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// ownRecs gives recs their own copies of the reused record buffers, for
// the backlog.
func ownRecs(recs []pending) []pending {
	for i := range recs {
		recs[i].rec = bytes.Clone(recs[i].rec)
	}
	return recs
}

// appendLocked appends recs to the spool in one call and counts them.
func (e *encoder) appendLocked(ctx context.Context, recs []pending) error {
	raw := make([][]byte, len(recs))
	n := 0
	for i, r := range recs {
		raw[i] = r.rec
		n += r.samples
	}
	if err := e.sp.Append(ctx, raw...); err != nil {
		return err
	}
	e.samples.Add(uint64(n))
	e.messages.Add(uint64(len(recs)))
	return nil
}

// refused records a failed append: counted, logged (at most every 10 s
// while it lasts), reported by healthy.
func (e *encoder) refused(err error, samples int) {
	e.failures.Add(1)
	err = fmt.Errorf("spool refused %d samples: %w", samples, err)
	e.lastErr.Store(&err)
	if now := e.clk.Now(); now.Sub(e.lastErrLog) >= 10*time.Second {
		e.lastErrLog = now
		e.log.Error("spool append failed; holding batches in memory and retrying", zap.Error(err),
			zap.Int64("held_samples", e.held.Load()), zap.Int("held_bytes", e.backlogBytes))
	}
}

// hold queues recs in the backlog, dropping the oldest batches beyond its
// bound. e.mu is held.
func (e *encoder) hold(recs []pending) {
	for _, r := range recs {
		e.backlog = append(e.backlog, r)
		e.backlogBytes += len(r.rec)
		e.held.Add(int64(r.samples))
	}
	var drop, dropBytes, dropSamples int
	for e.backlogBytes-dropBytes > e.maxBacklog && drop < len(e.backlog) {
		dropBytes += len(e.backlog[drop].rec)
		dropSamples += e.backlog[drop].samples
		drop++
	}
	if drop == 0 {
		return
	}
	clear(e.backlog[:drop])
	e.backlog = e.backlog[drop:]
	e.backlogBytes -= dropBytes
	e.held.Add(-int64(dropSamples))
	total := e.dropped.Add(uint64(dropSamples))
	e.log.Error("spool backlog full: samples dropped", zap.Int("dropped", dropSamples), zap.Int("batches", drop),
		zap.Uint64("dropped_total", total), zap.Int("backlog_bytes_limit", e.maxBacklog))
}

// serve retries the backlog with backoff until ctx is done. On the way
// out it tries once more; what the spool still refuses is counted and
// logged as dropped.
func (e *encoder) serve(ctx context.Context) error {
	rnd := rand.New(rand.NewPCG(uint64(e.clk.Now().UnixNano()), 0))
	for {
		select {
		case <-ctx.Done():
			e.final()
			return nil
		case <-e.kick:
		}
		for attempt := 0; ; attempt++ {
			if backoff.Sleep(ctx, e.clk, backoff.Delay(backoffCfg, attempt, rnd.Float64())) != nil {
				e.final()
				return nil
			}
			if e.flush(ctx) {
				break
			}
		}
	}
}

// flush appends the backlog to the spool, in order; it reports whether
// the backlog is empty.
func (e *encoder) flush(ctx context.Context) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.backlog) == 0 {
		e.lastErr.Store(nil)
		return true
	}
	for len(e.backlog) > 0 {
		n := min(len(e.backlog), 16)
		if err := e.appendLocked(ctx, e.backlog[:n]); err != nil {
			if ctx.Err() == nil {
				e.refused(err, int(e.held.Load()))
			}
			return false
		}
		var samples int
		for i := range n {
			e.backlogBytes -= len(e.backlog[i].rec)
			samples += e.backlog[i].samples
		}
		e.held.Add(-int64(samples))
		clear(e.backlog[:n])
		e.backlog = e.backlog[n:]
	}
	e.backlog = nil
	e.lastErr.Store(nil)
	e.log.Info("spool appends resumed; backlog written")
	return true
}

// final makes the last attempt at the backlog when the gateway stops.
func (e *encoder) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e.flush(ctx) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.held.Swap(0)
	if n == 0 {
		return
	}
	total := e.dropped.Add(uint64(n))
	e.log.Error("stopping with samples the spool refused: dropped", zap.Int64("dropped", n), zap.Uint64("dropped_total", total))
	e.backlog, e.backlogBytes = nil, 0
}

// appendMessage spools one message that is not a batch (an audit record).
func (e *encoder) appendMessage(ctx context.Context, m transport.Message) error {
	if err := e.sp.Append(ctx, spool.AppendMessage(nil, m)); err != nil {
		return err
	}
	e.messages.Add(1)
	return nil
}

// healthy reports whether the spool takes appends: nil unless the last
// append failed and its batches still wait in the backlog.
func (e *encoder) healthy() error {
	if p := e.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}
