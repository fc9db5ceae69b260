package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/wire"
)

// source reads one topic of one tenant: a receiver goroutine hands
// deliveries to run, which batches, writes, acknowledges and
// dead-letters. Only run's goroutine touches the batch and the
// dead-letter publisher.
type source struct {
	in    *Ingestor
	cfg   Config
	log   *zap.Logger
	t     *tenant.Tenant
	ns    string
	topic string
	st    *tenant.Store
	tr    *tenant.Transport
	sub   transport.Subscriber

	dlq     transport.Publisher
	scratch wire.Batch
	b       batch

	mu       sync.Mutex
	recvErr  error
	writeErr error
}

// batch is what a source holds between flushes: deliveries not yet
// acknowledged and their samples, in arrival order.
type batch struct {
	held    []held
	samples []plc.Sample
}

type held struct {
	d        transport.Delivery
	from, to int    // the message's samples in batch.samples
	source   string // the message's batch identity
	epoch    uint64
	seq      uint64
	event    time.Time // the message's event time, for lag
	settled  bool      // acknowledged or dead-lettered
}

func newSource(in *Ingestor, t *tenant.Tenant, ns, topic string, st *tenant.Store, tr *tenant.Transport, sub transport.Subscriber) *source {
	return &source{
		in: in, cfg: in.cfg, t: t, ns: ns, topic: topic, st: st, tr: tr, sub: sub,
		log: in.o.log.With(zap.String("tenant", t.ID()), zap.String("topic", topic)),
	}
}

func (s *source) health() error {
	if h, ok := s.sub.(interface{ Health() error }); ok {
		if err := h.Health(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recvErr != nil {
		return fmt.Errorf("receiving: %w", s.recvErr)
	}
	if s.writeErr != nil {
		return fmt.Errorf("writing: %w", s.writeErr)
	}
	return nil
}

// run serves the topic until ctx is done, then drains and closes.
func (s *source) run(ctx context.Context) {
	clk := s.in.o.clock
	deliveries := make(chan transport.Delivery)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		s.receive(ctx, deliveries)
	}()

	var timer clock.Timer
	var due <-chan time.Time
	disarm := func() {
		if timer != nil {
			timer.Stop()
		}
		due = nil
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case d := <-deliveries:
			s.take(ctx, d)
			if len(s.b.held) > 0 && due == nil {
				if timer == nil {
					timer = clk.NewTimer(s.cfg.MaxBatchDelay)
				} else {
					timer.Reset(s.cfg.MaxBatchDelay)
				}
				due = timer.C()
			}
			if len(s.b.samples) >= s.cfg.MaxBatchSamples {
				disarm()
				s.flush(ctx)
			}
		case <-due:
			due = nil
			s.flush(ctx)
		}
		if len(s.b.held) == 0 {
			disarm()
		}
	}
	disarm()
	<-recvDone
	// Stop receiving, commit, acknowledge: the drain gets its own
	// deadline, detached from ctx, which is already done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	if !s.flush(dctx) {
		n := s.unsettled()
		s.in.m.pending.WithLabelValues(s.t.ID()).Sub(float64(n))
		s.log.Warn("ingest: drain incomplete; unacknowledged messages will be redelivered", zap.Int("messages", n))
	}
	cancel()
	if s.dlq != nil {
		_ = s.dlq.Close()
	}
	_ = s.sub.Close()
}

// receive hands deliveries to out until ctx is done or the subscriber
// is closed; failures are retried after a backoff.
func (s *source) receive(ctx context.Context, out chan<- transport.Delivery) {
	for attempt := 0; ; {
		d, err := s.sub.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, transport.ErrClosed) {
				return
			}
			s.setErr(&s.recvErr, err)
			s.log.Warn("ingest: receive failed", zap.Int("attempt", attempt), zap.Error(err))
			if backoff.Sleep(ctx, s.in.o.clock, backoff.Delay(s.cfg.Retry, attempt, rand.Float64())) != nil {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		s.setErr(&s.recvErr, nil)
		select {
		case out <- d:
		case <-ctx.Done():
			_ = d.Nack() // stopping: let it go to another replica now
			return
		}
	}
}

func (s *source) setErr(p *error, err error) {
	s.mu.Lock()
	*p = err
	s.mu.Unlock()
}

// take decodes d and adds it to the batch, or settles it at once when it
// must not be written.
func (s *source) take(ctx context.Context, d transport.Delivery) {
	m := d.Message()
	b := &s.scratch
	if err := wire.FromMessage(m, b); err != nil {
		s.malformed(ctx, d, err)
		return
	}
	if b.Tenant != s.t.ID() {
		// Never retried, never written: a gateway publishing into the
		// wrong tenant's topic is a fault to look at, not to repair.
		s.deadLetter(ctx, d, ReasonTenantMismatch,
			fmt.Errorf("batch of tenant %q (source %q, seq %d) on a topic of tenant %q", b.Tenant, b.Source, b.Seq, s.t.ID()))
		return
	}
	if err := store.CheckSamples(b.Samples); err != nil {
		s.malformed(ctx, d, err)
		return
	}
	from := len(s.b.samples)
	s.b.samples = append(s.b.samples, b.Samples...)
	s.b.held = append(s.b.held, held{d: d, from: from, to: len(s.b.samples), source: b.Source, epoch: b.Epoch, seq: b.Seq, event: m.EventTime})
	s.in.m.pending.WithLabelValues(s.t.ID()).Inc()
	clear(b.Samples) // drop references to the payload's strings
}

// malformed nacks d, or dead-letters it on its MaxDeliveries-th delivery.
func (s *source) malformed(ctx context.Context, d transport.Delivery, cause error) {
	if d.Redeliveries()+1 >= s.cfg.MaxDeliveries {
		s.deadLetter(ctx, d, ReasonMalformed, cause)
		return
	}
	s.in.m.nacks.WithLabelValues(s.t.ID()).Inc()
	s.log.Info("ingest: malformed message nacked", zap.Int("redeliveries", d.Redeliveries()), zap.Error(cause))
	_ = d.Nack()
}

// deadLetter moves d to the dead-letter topic and acknowledges it once
// the dead-letter topic holds it; if that fails, d is nacked.
func (s *source) deadLetter(ctx context.Context, d transport.Delivery, reason string, cause error) {
	log := s.log.With(zap.String("reason", reason), zap.Error(cause))
	if s.dlq == nil {
		p, err := s.tr.Publisher(ctx, s.ns, s.cfg.DeadLetterTopic)
		if err != nil {
			log.Error("ingest: cannot open the dead-letter topic; message nacked", zap.NamedError("open", err))
			_ = d.Nack()
			return
		}
		s.dlq = p
	}
	m := d.Message()
	props := make(map[string]string, len(m.Properties)+4)
	for k, v := range m.Properties {
		props[k] = v
	}
	props[PropReason] = reason
	props[PropError] = cause.Error()
	props[PropOriginTopic] = s.topic
	props[PropDeliveries] = strconv.Itoa(d.Redeliveries() + 1)
	m.Properties = props
	confirmed := make(chan error, 1)
	err := s.dlq.Publish(ctx, []transport.Message{m}, func(_ int, err error) { confirmed <- err })
	if err == nil {
		select {
		case err = <-confirmed:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		log.Error("ingest: dead-lettering failed; message nacked", zap.NamedError("publish", err))
		_ = d.Nack()
		return
	}
	if err := d.Ack(); err != nil {
		log.Warn("ingest: ack of a dead-lettered message failed", zap.NamedError("ack", err))
	}
	s.in.m.deadLetters.WithLabelValues(s.t.ID(), reason).Inc()
	log.Warn("ingest: message dead-lettered", zap.String("dead_letter_topic", s.cfg.DeadLetterTopic))
}

// compact drops settled messages and their samples from the batch, left
// there by a flush that ctx cut short.
func (s *source) compact() {
	if s.unsettled() == len(s.b.held) {
		return
	}
	var hs []held
	var samples []plc.Sample
	for _, h := range s.b.held {
		if h.settled {
			continue
		}
		from := len(samples)
		samples = append(samples, s.b.samples[h.from:h.to]...)
		h.from, h.to = from, len(samples)
		hs = append(hs, h)
	}
	s.b.held, s.b.samples = hs, samples
}

func (s *source) unsettled() int {
	n := 0
	for _, h := range s.b.held {
		if !h.settled {
			n++
		}
	}
	return n
}

// flush writes the batch and acknowledges its messages. It reports false
// when ctx ended first; the batch is then kept, less what was settled.
func (s *source) flush(ctx context.Context) bool {
	s.compact()
	if len(s.b.held) == 0 {
		return true
	}
	ok := s.write(ctx, s.b.held, s.b.samples)
	if ok {
		clear(s.b.held)
		clear(s.b.samples)
		s.b.held, s.b.samples = s.b.held[:0], s.b.samples[:0]
	}
	return ok
}

// write stores the samples of hs (their spans of samples) as one batch
// each, retrying while the store fails, and settles hs: acknowledged after the commit, or, when the
// store refuses the samples for good, each message written on its own
// and the ones refused dead-lettered. It reports false when ctx ended
// first.
func (s *source) write(ctx context.Context, hs []held, samples []plc.Sample) bool {
	id := s.t.ID()
	var batches []store.Batch
	n := 0
	for i := range hs {
		if h := &hs[i]; !h.settled {
			batches = append(batches, store.Batch{Source: h.source, Epoch: h.epoch, Seq: h.seq, Samples: samples[h.from:h.to]})
			n += h.to - h.from
		}
	}
	for attempt := 0; ; attempt++ {
		start := s.in.o.clock.Now()
		res, err := s.st.WriteBatches(ctx, batches)
		if err == nil {
			s.setErr(&s.writeErr, nil)
			now := s.in.o.clock.Now()
			s.in.m.batchSeconds.WithLabelValues(id).Observe(now.Sub(start).Seconds())
			s.in.m.batchSamples.Observe(float64(n))
			s.in.m.rows.WithLabelValues(id).Add(float64(res.Inserted))
			s.in.m.duplicates.WithLabelValues(id).Add(float64(res.Duplicates + res.Redelivered))
			s.in.m.expired.WithLabelValues(id).Add(float64(res.Expired))
			var oldest time.Time
			for i := range hs {
				h := &hs[i]
				if h.settled {
					continue
				}
				if err := h.d.Ack(); err != nil {
					s.log.Warn("ingest: ack after commit failed; the message may come again", zap.Error(err))
				}
				h.settled = true
				s.in.m.pending.WithLabelValues(id).Dec()
				s.in.m.messages.WithLabelValues(id).Inc()
				if !h.event.IsZero() && (oldest.IsZero() || h.event.Before(oldest)) {
					oldest = h.event
				}
			}
			if !oldest.IsZero() {
				s.in.m.lag.WithLabelValues(id).Set(now.Sub(oldest).Seconds())
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var qe *tenant.QuotaError
		switch {
		case errors.As(err, &qe) && qe.RetryAfter > 0:
			s.in.m.quotaWaits.WithLabelValues(id).Inc()
			s.log.Debug("ingest: quota wait", zap.Error(err))
			if backoff.Sleep(ctx, s.in.o.clock, qe.RetryAfter) != nil {
				return false
			}
			attempt = -1 // not a failure: no backoff growth
		case permanent(err):
			return s.reject(ctx, hs, samples, err)
		default:
			s.setErr(&s.writeErr, err)
			s.in.m.writeErrors.WithLabelValues(id).Inc()
			s.log.Warn("ingest: write failed; retrying", zap.Int("attempt", attempt), zap.Int("samples", n), zap.Error(err))
			if backoff.Sleep(ctx, s.in.o.clock, backoff.Delay(s.cfg.Retry, attempt, rand.Float64())) != nil {
				return false
			}
		}
	}
}

// reject handles a batch the store refused for good: a single message is
// dead-lettered; several are written one by one, so only the culprits go.
func (s *source) reject(ctx context.Context, hs []held, samples []plc.Sample, cause error) bool {
	var open []int
	for i := range hs {
		if !hs[i].settled {
			open = append(open, i)
		}
	}
	if len(open) == 1 {
		// Dead-lettered, or nacked when that failed: settled either way.
		s.deadLetter(ctx, hs[open[0]].d, ReasonRejected, cause)
		hs[open[0]].settled = true
		s.in.m.pending.WithLabelValues(s.t.ID()).Dec()
		return true
	}
	s.log.Info("ingest: batch refused; writing its messages one by one", zap.Int("messages", len(open)), zap.Error(cause))
	for _, i := range open {
		if !s.write(ctx, hs[i:i+1], samples) {
			return false
		}
	}
	return true
}

// permanent reports errors that retrying the same batch cannot cure.
func permanent(err error) bool {
	var se *store.SampleError
	var qe *tenant.QuotaError
	return errors.As(err, &se) || errors.Is(err, store.ErrNoTenant) || errors.Is(err, store.ErrSource) || errors.As(err, &qe) && qe.RetryAfter <= 0
}
