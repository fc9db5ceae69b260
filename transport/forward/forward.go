package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

var (
	// ErrRunning is returned by Serve while another Serve of the same
	// Forwarder runs.
	ErrRunning = errors.New("forward: already serving")
	// ErrConfirmTimeout is the failure of a batch not confirmed within
	// Config.ConfirmTimeout.
	ErrConfirmTimeout = errors.New("forward: publish not confirmed in time")
)

// Option sets a code-only setting of New.
type Option func(*Forwarder)

// WithLogger logs failures, retries and breaker changes through l
// (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(f *Forwarder) { f.log = l } }

// WithClock sets the clock for retry delays, confirmation deadlines and
// lag ages (default: the system clock). The breaker's own open period
// runs on the system clock.
func WithClock(c clock.Clock) Option { return func(f *Forwarder) { f.clk = clock.Or(c) } }

// WithName names the forwarder in logs and as the breaker's name.
func WithName(name string) Option { return func(f *Forwarder) { f.name = name } }

// Forwarder drains a spool into a transport.Publisher: in spool order,
// up to MaxInFlight messages in flight, acknowledging to the spool only
// the prefix of messages the publisher confirmed. The records must hold
// messages as written by spool.Publisher.
type Forwarder struct {
	src  *spool.Spool
	dst  transport.Publisher
	cfg  Config
	log  *zap.Logger
	clk  clock.Clock
	name string
	brk  *gobreaker.TwoStepCircuitBreaker[struct{}]

	running atomic.Bool
	epoch   atomic.Uint64 // bumped when in-flight batches are abandoned

	cmu    sync.Mutex
	comps  []completion
	signal chan struct{} // capacity 1: completions are queued

	inFlight                              atomic.Int64
	published, confirmed, failed, retries atomic.Uint64
	skipped                               atomic.Uint64
}

// New returns a Forwarder from src to dst. It does not start it: run
// Serve. The Forwarder neither closes src nor dst.
func New(src *spool.Spool, dst transport.Publisher, cfg Config, opts ...Option) (*Forwarder, error) {
	if src == nil || dst == nil {
		return nil, errors.New("forward: nil spool or publisher")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Forwarder{
		src:    src,
		dst:    dst,
		cfg:    cfg.withDefaults(),
		log:    zap.NewNop(),
		clk:    clock.Real,
		name:   "forward",
		signal: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(f)
	}
	settings := f.cfg.Breaker.Settings(f.name)
	settings.IsExcluded = func(err error) bool { return errors.Is(err, context.Canceled) }
	settings.OnStateChange = func(name string, from, to gobreaker.State) {
		f.log.Warn("forward: breaker state", zap.String("name", name), zap.Stringer("from", from), zap.Stringer("to", to))
	}
	f.brk = gobreaker.NewTwoStepCircuitBreaker[struct{}](settings)
	return f, nil
}

type completion struct {
	b   *batch
	i   int
	err error
}

type item struct {
	rec       spool.Record
	msg       transport.Message
	sent      bool // handed to a batch of the current epoch
	confirmed bool
	skip      bool // held no message: never published
}

type batch struct {
	epoch     uint64
	items     []*item
	remaining int
	err       error
	brkDone   func(error)
	deadline  time.Time
}

// complete queues a completion; it never blocks, as publishers may call
// done from inside Publish.
func (f *Forwarder) complete(b *batch, i int, err error) {
	f.cmu.Lock()
	f.comps = append(f.comps, completion{b, i, err})
	f.cmu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

type readResult struct {
	recs []spool.Record
	err  error
}

// run is the state of one Serve.
type run struct {
	f        *Forwarder
	r        *spool.Reader
	window   []*item
	active   []*batch
	epoch    uint64
	failed   bool      // a batch of this epoch failed: send nothing until retry
	probing  bool      // after a failure: one batch at a time until one is confirmed
	waitTill time.Time // no sending before it (backoff); zero once passed
	attempt  int
	stopping bool
	stopAt   time.Time
}

// Serve forwards until ctx is done, then stops taking records, waits up
// to ShutdownTimeout for in-flight confirmations, acknowledges what was
// confirmed and returns nil. It returns an error when the spool cannot be
// read (closed, already read by another reader, a storage error).
func (f *Forwarder) Serve(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	r, err := f.src.OpenReader()
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	defer r.Close()

	f.cmu.Lock()
	f.comps = nil
	f.cmu.Unlock()
	ru := &run{f: f, r: r, epoch: f.epoch.Add(1)}
	defer func() {
		f.epoch.Add(1) // late confirmations are ignored
		f.inFlight.Store(0)
		// batches abandoned unconfirmed count neither way for the
		// breaker; left open, a half-open breaker's trial would stay
		// outstanding and refuse every batch of the next Serve
		for _, b := range ru.active {
			b.brkDone(context.Canceled)
		}
	}()

	rctx, rcancel := context.WithCancel(context.Background())
	reqCh := make(chan int)
	recCh := make(chan readResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-rctx.Done():
				return
			case n := <-reqCh:
				recs, err := r.Next(rctx, n)
				recCh <- readResult{recs, err}
			}
		}
	}()
	defer func() {
		rcancel()
		wg.Wait()
	}()

	reading := false
	timer := f.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ru.ackPrefix()
		if ru.stopping && len(ru.active) == 0 {
			return nil
		}
		if !ru.stopping && !reading && len(ru.window) < f.cfg.MaxInFlight {
			reqCh <- f.cfg.MaxInFlight - len(ru.window)
			reading = true
		}
		if !ru.stopping {
			ru.send(ctx)
		}
		timer.Stop()
		var wake time.Time
		if next := ru.nextDeadline(); !next.IsZero() {
			wake = next
			timer.Reset(max(next.Sub(f.clk.Now()), 0))
		}
		done := ctx.Done()
		if ru.stopping {
			done = nil
		}
		select {
		case res := <-recCh:
			reading = false
			if res.err != nil {
				if ctx.Err() != nil || ru.stopping {
					continue
				}
				return fmt.Errorf("forward: reading spool: %w", res.err)
			}
			ru.take(res.recs)
		case <-f.signal:
			ru.settle()
		case <-timer.C():
			if now := f.clk.Now(); !wake.IsZero() && !now.Before(wake) {
				if ru.stopping && !now.Before(ru.stopAt) {
					f.log.Warn("forward: shutdown with unconfirmed messages", zap.Int("batches", len(ru.active)))
					return nil
				}
				ru.expire(now)
			}
		case <-done:
			ru.stopping = true
			ru.stopAt = f.clk.Now().Add(f.cfg.ShutdownTimeout)
			rcancel()
		}
	}
}

// take appends read records to the window.
func (ru *run) take(recs []spool.Record) {
	for _, rec := range recs {
		it := &item{rec: rec}
		m, err := spool.DecodeMessage(rec.Data)
		if err != nil {
			ru.f.log.Error("forward: skipping record", zap.Uint64("seq", rec.Seq), zap.Error(err))
			ru.f.skipped.Add(1)
			it.confirmed = true
			it.skip = true
		}
		it.msg = m
		ru.window = append(ru.window, it)
	}
}

// ackPrefix acknowledges the confirmed prefix of the window to the spool.
func (ru *run) ackPrefix() {
	n := 0
	for n < len(ru.window) && ru.window[n].confirmed {
		n++
	}
	if n == 0 {
		return
	}
	seq := ru.window[n-1].rec.Seq
	ru.window = ru.window[n:]
	if err := ru.r.Ack(seq); err != nil {
		ru.f.log.Error("forward: ack", zap.Uint64("seq", seq), zap.Error(err))
	}
}

// inFlight counts messages in active batches.
func (ru *run) inFlight() int {
	n := 0
	for _, b := range ru.active {
		n += len(b.items)
	}
	return n
}

// send publishes batches of unsent messages while the window allows.
// While probing, only one batch is in flight.
func (ru *run) send(ctx context.Context) {
	f := ru.f
	if ru.failed {
		return
	}
	if !ru.waitTill.IsZero() {
		if f.clk.Now().Before(ru.waitTill) {
			return
		}
		ru.waitTill = time.Time{}
	}
	for {
		if ru.probing && len(ru.active) > 0 {
			return
		}
		room := f.cfg.MaxInFlight - ru.inFlight()
		if room <= 0 {
			return
		}
		var items []*item
		for _, it := range ru.window {
			if len(items) == min(room, f.cfg.BatchSize) {
				break
			}
			if !it.sent && !it.confirmed {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			return
		}
		brkDone, err := f.brk.Allow()
		if err != nil { // open: wait, then try again
			ru.backoff()
			return
		}
		b := &batch{epoch: ru.epoch, items: items, remaining: len(items), brkDone: brkDone, deadline: f.clk.Now().Add(f.cfg.ConfirmTimeout)}
		msgs := make([]transport.Message, len(items))
		for i, it := range items {
			msgs[i] = it.msg
			it.sent = true
		}
		ru.active = append(ru.active, b)
		f.inFlight.Store(int64(ru.inFlight()))
		pctx, cancel := context.WithTimeout(ctx, f.cfg.ConfirmTimeout)
		err = f.dst.Publish(pctx, msgs, func(i int, err error) { f.complete(b, i, err) })
		cancel()
		if err != nil {
			ru.active = ru.active[:len(ru.active)-1]
			f.inFlight.Store(int64(ru.inFlight()))
			for _, it := range items {
				it.sent = false
			}
			if ctx.Err() != nil {
				brkDone(context.Canceled) // excluded: not the destination's fault
				return
			}
			brkDone(err)
			f.failed.Add(uint64(len(items)))
			f.log.Warn("forward: publish refused", zap.Int("messages", len(items)), zap.Error(err))
			ru.failed = true
			if len(ru.active) == 0 { // else settle retries once they are done
				ru.retry()
			}
			return
		}
		f.published.Add(uint64(len(items)))
	}
}

// settle applies queued completions.
func (ru *run) settle() {
	f := ru.f
	f.cmu.Lock()
	comps := f.comps
	f.comps = nil
	f.cmu.Unlock()
	for _, c := range comps {
		b := c.b
		if b.epoch != ru.epoch || b.remaining == 0 || c.i < 0 || c.i >= len(b.items) {
			continue
		}
		it := b.items[c.i]
		if c.err == nil {
			it.confirmed = true
			f.confirmed.Add(1)
		} else {
			f.failed.Add(1)
			if b.err == nil {
				b.err = c.err
			}
		}
		b.remaining--
		if b.remaining > 0 {
			continue
		}
		b.brkDone(b.err)
		for i, a := range ru.active {
			if a == b {
				ru.active = append(ru.active[:i], ru.active[i+1:]...)
				break
			}
		}
		if b.err != nil {
			f.log.Warn("forward: publish failed", zap.Int("messages", len(b.items)), zap.Error(b.err))
			ru.failed = true
		} else if !ru.failed {
			ru.attempt = 0
			ru.probing = false
		}
	}
	f.inFlight.Store(int64(ru.inFlight()))
	if ru.failed && len(ru.active) == 0 {
		ru.retry()
	}
}

// expire fails the batches past their confirmation deadline, abandoning
// every batch in flight, and lifts a backoff wait that is over.
func (ru *run) expire(now time.Time) {
	late := false
	for _, b := range ru.active {
		if !now.Before(b.deadline) {
			late = true
		}
	}
	if !late {
		return
	}
	for _, b := range ru.active {
		b.remaining = 0
		b.brkDone(ErrConfirmTimeout)
		ru.f.failed.Add(uint64(len(b.items)))
	}
	ru.f.log.Warn("forward: confirmations timed out", zap.Int("batches", len(ru.active)))
	ru.active = nil
	ru.f.inFlight.Store(0)
	ru.failed = true
	ru.retry()
}

// retry starts a new epoch after a backoff delay: go back to the first
// unconfirmed message and publish everything from there again, in spool
// order, also messages after it that were confirmed (they reached the
// destination ahead of an earlier one; sent again, they follow it). The
// first batch is sent alone (probing); the window opens again once it
// is confirmed, so nothing overtakes a message that failed. Completions
// of the old epoch are ignored.
func (ru *run) retry() {
	ru.epoch = ru.f.epoch.Add(1)
	ru.failed = false
	ru.probing = true
	back := false
	for _, it := range ru.window {
		if !it.confirmed {
			back = true
		}
		it.sent = false
		if back && !it.skip {
			it.confirmed = false
		}
	}
	ru.f.retries.Add(1)
	ru.backoff()
}

// backoff delays the next send.
func (ru *run) backoff() {
	d := backoff.Delay(ru.f.cfg.Retry, ru.attempt, rand.Float64())
	ru.attempt++
	ru.waitTill = ru.f.clk.Now().Add(d)
}

// nextDeadline is the earliest time the loop must wake without an event.
func (ru *run) nextDeadline() time.Time {
	var t time.Time
	earlier := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	if ru.stopping {
		earlier(ru.stopAt)
	} else {
		// kept until send sees it passed: time moves between send's
		// check and this one
		earlier(ru.waitTill)
	}
	for _, b := range ru.active {
		earlier(b.deadline)
	}
	return t
}

// Lag is how far the destination is behind the spool.
type Lag struct {
	// Records and Bytes are the spool's unacknowledged records and bytes.
	Records int64
	Bytes   int64
	// OldestAge is the age of the oldest unacknowledged record.
	OldestAge time.Duration
}

// Status is a snapshot of the forwarder.
type Status struct {
	Lag Lag
	// Breaker is the breaker's state: "closed", "half-open" or "open".
	Breaker string
	// InFlight counts messages published and not yet confirmed.
	InFlight int
	// Published, Confirmed and Failed count messages (a message published
	// again after a failure counts again); Retries counts retry rounds;
	// Skipped counts records that held no message.
	Published, Confirmed, Failed, Retries, Skipped uint64
}

// Status returns the forwarder's lag, breaker state and counters.
func (f *Forwarder) Status() Status {
	st := f.src.Stats()
	lag := Lag{Records: st.Records, Bytes: st.Bytes}
	if !st.Oldest.IsZero() {
		lag.OldestAge = max(f.clk.Now().Sub(st.Oldest), 0)
	}
	return Status{
		Lag:       lag,
		Breaker:   f.brk.State().String(),
		InFlight:  int(f.inFlight.Load()),
		Published: f.published.Load(),
		Confirmed: f.confirmed.Load(),
		Failed:    f.failed.Load(),
		Retries:   f.retries.Load(),
		Skipped:   f.skipped.Load(),
	}
}
