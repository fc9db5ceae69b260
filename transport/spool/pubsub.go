package spool

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/transport"
)

// Publisher is the embedded transport.Publisher: it appends messages to a
// spool. A message is confirmed once its record is as durable as the
// spool's sync policy promises. Many publishers may share one spool.
type Publisher struct {
	s       *Spool
	closing chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	buf    []byte
	recs   [][]byte
}

var _ transport.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher appending to s. Closing it does not
// close s.
func NewPublisher(s *Spool) *Publisher {
	return &Publisher{s: s, closing: make(chan struct{})}
}

// Publish appends msgs as one unit and confirms each one before it
// returns nil. At the spool's size cap it blocks or drops per the full
// policy; Close or ctx ends the wait.
func (p *Publisher) Publish(ctx context.Context, msgs []transport.Message, done func(i int, err error)) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.wg.Add(1)
	defer p.wg.Done()
	buf, recs := p.buf[:0], p.recs[:0]
	p.buf, p.recs = nil, nil // concurrent Publish calls take fresh buffers
	p.mu.Unlock()

	for _, m := range msgs {
		start := len(buf)
		buf = AppendMessage(buf, m)
		recs = append(recs, buf[start:len(buf):len(buf)])
	}
	// buf may have moved while growing: re-slice the records from it
	off := 0
	for i := range recs {
		n := len(recs[i])
		recs[i] = buf[off : off+n : off+n]
		off += n
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(closingCtx{p.closing}, cancel)
	err := p.s.Append(ctx, recs...)
	stop()
	cancel()

	p.mu.Lock()
	p.buf, p.recs = buf, recs
	p.mu.Unlock()
	if err != nil {
		select {
		case <-p.closing:
			return ErrClosed
		default:
		}
		return err
	}
	for i := range msgs {
		done(i, nil)
	}
	return nil
}

// Close stops accepting messages and waits for Publish calls under way
// (ending their waits for space). It is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// closingCtx is a context done when its channel is closed.
type closingCtx struct{ ch chan struct{} }

func (c closingCtx) Done() <-chan struct{} { return c.ch }
func (c closingCtx) Err() error {
	select {
	case <-c.ch:
		return ErrClosed
	default:
		return nil
	}
}
func (closingCtx) Deadline() (deadline time.Time, ok bool) { return }
func (closingCtx) Value(any) any                           { return nil }

// Subscriber is the embedded transport.Subscriber: it delivers a spool's
// messages in order. Acknowledgements may come in any order; the spool's
// persisted cursor advances over the acknowledged prefix, so after a
// crash delivery resumes at the first unacknowledged message. A spool has
// one consumer: NewSubscriber returns ErrReaderBusy while another
// subscriber or a forwarder reads it.
type Subscriber struct {
	r   *Reader
	log *zap.Logger

	recvMu sync.Mutex // one Receive at a time reads ahead

	mu      sync.Mutex
	closed  bool
	ahead   []Record
	pending []*delivery // handed out, in sequence order, until the prefix is acked
	redo    []*delivery // nacked, delivered again first
	wake    context.CancelFunc
}

var _ transport.Subscriber = (*Subscriber)(nil)

// NewSubscriber opens s's reader and returns a Subscriber over it.
// Records that do not hold a message (appended by other means than a
// Publisher) are logged and skipped. Closing the Subscriber does not
// close s.
func NewSubscriber(s *Spool) (*Subscriber, error) {
	r, err := s.OpenReader()
	if err != nil {
		return nil, err
	}
	return &Subscriber{r: r, log: s.log}, nil
}

// Receive returns the next message: a nacked one first, then the next in
// the spool, blocking until there is one or ctx is done.
func (sub *Subscriber) Receive(ctx context.Context) (transport.Delivery, error) {
	sub.recvMu.Lock()
	defer sub.recvMu.Unlock()
	for {
		sub.mu.Lock()
		if sub.closed {
			sub.mu.Unlock()
			return nil, ErrClosed
		}
		if len(sub.redo) > 0 {
			d := sub.redo[0]
			sub.redo = sub.redo[1:]
			d.redeliveries++
			d.nacked = false
			sub.mu.Unlock()
			return d, nil
		}
		if len(sub.ahead) > 0 {
			rec := sub.ahead[0]
			sub.ahead = sub.ahead[1:]
			d := &delivery{sub: sub, seq: rec.Seq}
			sub.pending = append(sub.pending, d)
			m, err := DecodeMessage(rec.Data)
			if err != nil {
				sub.log.Error("spool: skipping record", zap.Uint64("seq", rec.Seq), zap.Error(err))
				d.acked = true
				err = sub.advanceLocked()
				sub.mu.Unlock()
				if err != nil {
					return nil, err
				}
				continue
			}
			d.msg = m
			sub.mu.Unlock()
			return d, nil
		}
		wctx, cancel := context.WithCancel(ctx)
		sub.wake = cancel
		sub.mu.Unlock()
		recs, err := sub.r.Next(wctx, 64)
		cancel()
		sub.mu.Lock()
		sub.wake = nil
		sub.ahead = append(sub.ahead, recs...)
		sub.mu.Unlock()
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil && wctx.Err() == nil {
			return nil, err
		}
	}
}

// advanceLocked acknowledges the acked prefix of pending to the spool.
func (sub *Subscriber) advanceLocked() error {
	i := 0
	for i < len(sub.pending) && sub.pending[i].acked {
		i++
	}
	if i == 0 {
		return nil
	}
	seq := sub.pending[i-1].seq
	sub.pending = sub.pending[i:]
	return sub.r.Ack(seq)
}

// Close releases the spool's reader; unacknowledged messages are
// delivered again to the next subscriber. It is idempotent.
func (sub *Subscriber) Close() error {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return nil
	}
	sub.closed = true
	if sub.wake != nil {
		sub.wake()
	}
	sub.mu.Unlock()
	sub.recvMu.Lock() // wait for a Receive under way
	defer sub.recvMu.Unlock()
	return sub.r.Close()
}

type delivery struct {
	sub          *Subscriber
	seq          uint64
	msg          transport.Message
	acked        bool
	nacked       bool
	redeliveries int
}

func (d *delivery) Message() transport.Message { return d.msg }
func (d *delivery) Redeliveries() int {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	return d.redeliveries
}

func (d *delivery) Ack() error {
	sub := d.sub
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return ErrClosed
	}
	if d.acked || d.nacked {
		return nil
	}
	d.acked = true
	return sub.advanceLocked()
}

func (d *delivery) Nack() error {
	sub := d.sub
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed {
		return ErrClosed
	}
	if d.acked || d.nacked {
		return nil
	}
	d.nacked = true
	sub.redo = append(sub.redo, d)
	if sub.wake != nil {
		sub.wake()
	}
	return nil
}
