package s7

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// Prepare parses the tags' addresses for repeated reads. The request plan
// is made on the first read, for the negotiated PDU size, and reused by
// every read after it (it is remade only if a reconnection negotiates
// another size, or once to isolate a tag the PLC refused).
func (d *Driver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	if d.closed.Load() {
		return nil, plc.ErrClosed
	}
	if len(tags) > math.MaxInt32 {
		return nil, fmt.Errorf("s7: Prepare: %d tags, at most %d", len(tags), math.MaxInt32)
	}
	r := &reader{d: d, names: make([]string, len(tags)), bad: make([]bool, len(tags)), plans: map[int]*readPlan{}}
	r.valid = make([]planTag, 0, len(tags))
	for i, t := range tags {
		r.names[i] = t.Name
		a, err := ParseAddress(t.Address, t.Type)
		if err != nil {
			r.bad[i] = true
			d.log.Warn("s7 tag has a bad address; it reads as Bad", zap.String("tag", t.Name), zap.Error(err))
			continue
		}
		r.valid = append(r.valid, planTag{idx: int32(i), addr: a})
	}
	return r, nil
}

// reader is a prepared scan group.
type reader struct {
	d     *Driver
	names []string  // per tag: its name (the rest of the tag is in valid)
	bad   []bool    // per tag: its address was refused (logged in Prepare)
	valid []planTag // tags with good addresses

	mu    sync.Mutex // one read at a time; guards plans and valid
	plans map[int]*readPlan
}

// cstat is the outcome of one chunk of a read.
type cstat struct {
	code byte  // item return code when err is nil
	err  error // the request failed as a whole
}

// Qualities of whole-request failures; constant details so they do not
// allocate.
var (
	qualNotConnected = plc.Bad(plc.ReasonCommFailure, "not connected")
	qualBreakerOpen  = plc.Bad(plc.ReasonCommFailure, "circuit breaker open")
	qualBadResponse  = plc.Bad(plc.ReasonCommFailure, "bad response")
	qualCanceled     = plc.Bad(plc.ReasonCommFailure, "canceled")
	qualClosed       = plc.Bad(plc.ReasonCommFailure, "driver closed")
	qualConfig       = plc.Bad(plc.ReasonConfigError, "bad address or type")
)

func errQuality(err error) plc.Quality {
	var je *JobError
	switch {
	case errors.As(err, &je):
		return jobQuality(je)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return qualCanceled
	case breaker.Refused(err):
		return qualBreakerOpen
	case errors.Is(err, ErrBadResponse):
		return qualBadResponse
	}
	return qualNotConnected
}

// Read reads every prepared tag; see plc.Reader.
func (r *reader) Read(ctx context.Context, out []plc.Sample) error {
	if len(out) < len(r.names) {
		return fmt.Errorf("s7: Read needs %d samples, got %d", len(r.names), len(out))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.d.clk.Now()
	for i, name := range r.names {
		out[i] = plc.Sample{Tag: name, Time: now, Quality: qualNotConnected}
		if r.bad[i] {
			out[i].Quality = qualConfig
		}
	}
	if r.d.closed.Load() {
		r.fill(out, qualClosed)
		return plc.ErrClosed
	}
	if len(r.valid) == 0 {
		return nil
	}
	slots, err := r.d.live(ctx)
	if err != nil {
		r.fill(out, qualCanceled)
		return err
	}
	if len(slots) == 0 {
		return nil // every valid tag is already Bad: not connected
	}
	pdu := int(slots[0].pdu.Load())
	for _, s := range slots[1:] {
		if p := int(s.pdu.Load()); p > 0 && p < pdu {
			pdu = p
		}
	}
	if pdu == 0 {
		return nil
	}
	p := r.plans[pdu]
	if p == nil {
		p = planReads(r.valid, pdu, r.d.cfg.MaxItems, r.gap())
		r.plans[pdu] = p
	}
	st := r.run(ctx, slots, p)
	refused := r.extract(p, st, out)
	if len(refused) > 0 && ctx.Err() == nil {
		// Some items the PLC refused held several tags: read those tags
		// one by one to learn which are at fault, and plan them alone from
		// now on, so one bad tag does not spoil its neighbours.
		sub := make([]planTag, 0, len(refused))
		for _, t := range refused {
			sub = append(sub, planTag{idx: p.src[t.src].idx, addr: p.src[t.src].addr, alone: true})
		}
		sp := buildPlan(sub, pdu, r.d.cfg.MaxItems, 0)
		r.extract(sp, r.run(ctx, slots, sp), out)
		alone := map[int32]bool{}
		for _, t := range sub {
			if out[t.idx].Quality.Reason == plc.ReasonDeviceError {
				alone[t.idx] = true
			}
		}
		for i := range r.valid {
			if alone[r.valid[i].idx] {
				r.valid[i].alone = true
			}
		}
		clear(r.plans)
	}
	return ctx.Err()
}

func (r *reader) gap() int {
	if r.d.cfg.Gap == 0 {
		return -1
	}
	return r.d.cfg.Gap
}

// fill sets the quality of every tag with a valid address.
func (r *reader) fill(out []plc.Sample, q plc.Quality) {
	for _, t := range r.valid {
		out[t.idx].Quality = q
	}
}

// run sends the plan's requests, spread over the live connections and
// the jobs each may keep in flight, and returns each chunk's outcome; the
// data lands in p.buf.
func (r *reader) run(ctx context.Context, slots []*slot, p *readPlan) []cstat {
	st := make([]cstat, len(p.chunks))
	do := func(s *slot, ri int) {
		req := &p.reqs[ri]
		resp, h, err := s.exchange(ctx, "read", req.frame)
		var items []wire.ItemData
		if err == nil {
			if _, items, err = wire.ParseReadResponse(resp, len(req.items)); err != nil && !errors.As(err, new(*JobError)) {
				err = fmt.Errorf("%w: %w", ErrBadResponse, err)
				s.drop(h)
			}
		}
		for i, c := range req.chunks {
			if err != nil {
				st[c].err = err
				continue
			}
			code := items[i].Code
			st[c].code = code
			if code != wire.RCSuccess {
				r.d.m.itemError(ReturnCode(code))
				continue
			}
			ch := p.chunks[c]
			if len(items[i].Data) != ch.n {
				st[c].err = fmt.Errorf("%w: item of %d bytes, want %d", ErrBadResponse, len(items[i].Data), ch.n)
				s.drop(h)
				continue
			}
			copy(p.buf[p.ranges[ch.rng].bufOff+ch.off:], items[i].Data)
		}
	}
	// Each connection keeps as many requests in flight as its PLC
	// granted; results land by request index, so their order is kept.
	workers := 0
	for _, s := range slots {
		workers += s.jobs()
	}
	if workers == 1 || len(p.reqs) == 1 {
		for i := range p.reqs {
			do(slots[0], i)
		}
		return st
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, s := range slots {
		for range min(s.jobs(), len(p.reqs)) {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(p.reqs); i = int(next.Add(1) - 1) {
					do(s, i)
				}
			})
		}
	}
	wg.Wait()
	return st
}

// extract decodes each tag of the plan from the read bytes into out, and
// returns the tags refused with an item error whose item also held other
// tags.
func (r *reader) extract(p *readPlan, st []cstat, out []plc.Sample) (refused []ptag) {
	for _, t := range p.tags {
		q := plc.Good
		for c := t.chunkLo; c < t.chunkHi; c++ {
			if st[c].err != nil {
				q = errQuality(st[c].err)
				break
			}
			if st[c].code != wire.RCSuccess {
				q = itemQuality(ReturnCode(st[c].code))
				if p.ranges[t.rng].tags > 1 {
					refused = append(refused, t)
				}
				break
			}
		}
		src := &p.src[t.src]
		s := &out[src.idx]
		s.Quality, s.Value = q, plc.Value{}
		if !q.IsGood() {
			continue
		}
		rg := p.ranges[t.rng]
		lo := rg.bufOff + int(t.off)
		v, err := src.addr.Decode(p.buf[lo : lo+src.addr.Size()])
		if err != nil {
			s.Quality = qualConfig
			continue
		}
		s.Value = v
	}
	return refused
}

// jobs returns how many requests the slot's connection may keep in
// flight (1 while it is down).
func (s *slot) jobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return 1
	}
	return s.c.jobs
}
