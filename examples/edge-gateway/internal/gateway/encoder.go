package gateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// maxBatch is the most samples one spooled message holds, so a message
// stays well under the spool's and the broker's size limits.
const maxBatch = 4096

// encoder is the poller's and the subscriptions' sink: it encodes each
// batch (wire) and appends it to the spool, durable before it returns.
type encoder struct {
	sp             *spool.Spool
	source, tenant string

	mu   sync.Mutex
	seq  uint64
	buf  []byte
	recs [][]byte

	samples  atomic.Uint64 // samples spooled
	messages atomic.Uint64
	failures atomic.Uint64
	lastErr  atomic.Pointer[error]
}

func newEncoder(sp *spool.Spool, source, tenant string, now time.Time) *encoder {
	// Sequence numbers start at the clock so they keep increasing across
	// restarts without persisting them.
	return &encoder{sp: sp, source: source, tenant: tenant, seq: uint64(now.UnixNano())}
}

// WriteSamples implements plc.Sink.
func (e *encoder) WriteSamples(ctx context.Context, samples []plc.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recs = e.recs[:0]
	for start := 0; start < len(samples); start += maxBatch {
		end := min(start+maxBatch, len(samples))
		e.seq++
		msg := wire.ToMessage(&wire.Batch{Source: e.source, Tenant: e.tenant, Seq: e.seq, Samples: samples[start:end]}, e.buf)
		e.buf = msg.Payload[:0]
		e.recs = append(e.recs, spool.AppendMessage(nil, msg))
	}
	if err := e.sp.Append(ctx, e.recs...); err != nil {
		e.failures.Add(1)
		err = fmt.Errorf("spool %d samples: %w", len(samples), err)
		e.lastErr.Store(&err)
		return err
	}
	e.lastErr.Store(nil)
	e.samples.Add(uint64(len(samples)))
	e.messages.Add(uint64(len(e.recs)))
	return nil
}

// appendMessage spools one message that is not a batch (an audit record).
func (e *encoder) appendMessage(ctx context.Context, m transport.Message) error {
	if err := e.sp.Append(ctx, spool.AppendMessage(nil, m)); err != nil {
		return err
	}
	e.messages.Add(1)
	return nil
}

// healthy reports whether the last append succeeded.
func (e *encoder) healthy() error {
	if p := e.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}
