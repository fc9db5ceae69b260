package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// Prepare parses the tags' addresses with the device's defaults and
// plans their reads once; the plan is reused by every read and remade
// only when the device refuses a range (see Read).
func (d *Driver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	if d.closed.Load() {
		return nil, plc.ErrClosed
	}
	if len(tags) > math.MaxInt32 {
		return nil, fmt.Errorf("modbus: Prepare: %d tags, at most %d", len(tags), math.MaxInt32)
	}
	r := &reader{d: d, names: make([]string, len(tags)), bad: make([]bool, len(tags)), cuts: map[cutKey]bool{}, judged: map[cutKey]bool{}}
	for i, t := range tags {
		r.names[i] = t.Name
		a, err := ParseAddress(t.Address, t.Type, d.ad)
		if err != nil {
			r.bad[i] = true
			d.log.Warn("modbus tag has a bad address; it reads as Bad", zap.String("tag", t.Name), zap.Error(err))
			continue
		}
		r.valid = append(r.valid, planTag{idx: int32(i), addr: a})
	}
	r.plan = planReads(r.valid, d.cfg.limits(), r.cuts)
	return r, nil
}

// reader is a prepared scan group.
type reader struct {
	d     *Driver
	names []string
	bad   []bool
	valid []planTag

	mu     sync.Mutex // one read at a time; guards plan and cuts
	plan   *readPlan
	cuts   map[cutKey]bool // registers the device would not read across
	judged map[cutKey]bool // cuts prune has looked at
}

// Qualities of whole-request failures; constant details so they do not
// allocate.
var (
	qualNotConnected = plc.Bad(plc.ReasonCommFailure, "not connected")
	qualTimeout      = plc.Bad(plc.ReasonCommFailure, "timeout")
	qualBreakerOpen  = plc.Bad(plc.ReasonCommFailure, "circuit breaker open")
	qualBadResponse  = plc.Bad(plc.ReasonCommFailure, "bad response")
	qualCanceled     = plc.Bad(plc.ReasonCommFailure, "canceled")
	qualClosed       = plc.Bad(plc.ReasonCommFailure, "driver closed")
	qualConfig       = plc.Bad(plc.ReasonConfigError, "bad address or type")
)

func errQuality(err error) plc.Quality {
	var ee *ExceptionError
	switch {
	case errors.As(err, &ee):
		return exceptionQuality(ee.Code)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return qualCanceled
	case breaker.Refused(err):
		return qualBreakerOpen
	case errors.Is(err, ErrTimeout):
		return qualTimeout
	case errors.Is(err, ErrBadResponse):
		return qualBadResponse
	}
	return qualNotConnected
}

// Read reads every prepared tag; see plc.Reader. Requests go out up to
// Config.InFlight at a time. A request answered with an exception turns
// only its tags Bad, the code in their quality. When the exception is
// "illegal data address" and the request held several tags, the range
// is cut in two between them and both halves are read again at once,
// until the tags at fault stand alone; the cuts are kept for later reads,
// but for those that only the bisection needed (see prune).
func (r *reader) Read(ctx context.Context, out []plc.Sample) error {
	if len(out) < len(r.names) {
		return fmt.Errorf("modbus: Read needs %d samples, got %d", len(r.names), len(out))
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
	if _, err := r.d.conn.link(ctx); err != nil {
		r.fill(out, qualCanceled)
		return err
	}
	p := r.plan
	var known []span   // what this read got answered, for pruning cuts
	var added []cutKey // cuts made by this read
	for {
		errs := r.run(ctx, p)
		known = p.answered(errs, known)
		cuts := r.split(p, errs)
		added = append(added, cuts...)
		if len(cuts) == 0 || ctx.Err() != nil {
			r.extract(p, errs, out)
			break
		}
		// Read again only the tags of the refused ranges, with the new
		// cuts; the others keep what this round read.
		r.extract(p, errs, out)
		var again []planTag
		for _, t := range p.tags {
			for ri := t.reqLo; ri < t.reqHi; ri++ {
				if isIllegalAddress(errs[ri]) {
					again = append(again, p.src[t.src])
					break
				}
			}
		}
		p = planReads(again, r.d.cfg.limits(), r.cuts)
	}
	if p != r.plan {
		r.prune(ctx, added, known, out)
		r.plan = planReads(r.valid, r.d.cfg.limits(), r.cuts)
	}
	return ctx.Err()
}

// span is registers [lo, hi) of one unit and table.
type span struct {
	unit   uint8
	table  Table
	lo, hi int
}

// answered appends the spans of the requests of p that were answered
// with data.
func (p *readPlan) answered(errs []error, to []span) []span {
	for ri, err := range errs {
		if err == nil {
			q := p.reqs[ri]
			rg := p.ranges[q.rng]
			to = append(to, span{rg.unit, rg.table, rg.start + q.off, rg.start + q.off + q.qty})
		}
	}
	return to
}

// prune removes the cuts this read made that bisection needed but the
// device does not: a cut between two tags neither of which was refused
// on its own, where the registers between them were answered in this
// read, or are answered now when asked for alone (one request). Devices
// that refuse ranges for other reasons than a missing register (a range
// across a block boundary) would refuse the merged range again; each cut
// is therefore judged once and kept after that.
func (r *reader) prune(ctx context.Context, added []cutKey, known []span, out []plc.Sample) {
	for _, k := range added {
		if r.judged[k] {
			continue
		}
		r.judged[k] = true
		c := int(k.reg)
		prevEnd, keep := -1, false
		for _, t := range r.valid {
			a := &t.addr
			if a.Unit != k.unit || a.Table != k.table {
				continue
			}
			start, end := int(a.Register), int(a.Register)+a.Registers()
			refused := out[t.idx].Quality.Code == uint32(ExIllegalDataAddress) && out[t.idx].Quality.Reason == plc.ReasonDeviceError
			switch {
			case start == c && refused:
				keep = true
			case start < c && end > prevEnd:
				prevEnd, keep = end, keep || refused
			case start < c && end == prevEnd && refused:
				keep = true
			}
		}
		if keep || prevEnd < 0 {
			continue
		}
		if !covered(known, k.unit, k.table, prevEnd, c) {
			if c-prevEnd > r.d.cfg.limits().max(k.table) {
				continue
			}
			pdu := wire.ReadRequest(k.table.readFC(), uint16(prevEnd), uint16(c-prevEnd))
			if _, err := r.d.request(ctx, "read", k.unit, pdu); err != nil {
				continue
			}
		}
		delete(r.cuts, k)
	}
}

// covered reports whether spans cover registers [lo, hi) of a unit's
// table; an empty stretch is covered.
func covered(spans []span, unit uint8, table Table, lo, hi int) bool {
	for lo < hi {
		next := lo
		for _, s := range spans {
			if s.unit == unit && s.table == table && s.lo <= lo && s.hi > next {
				next = s.hi
			}
		}
		if next == lo {
			return false
		}
		lo = next
	}
	return true
}

func isIllegalAddress(err error) bool {
	var ee *ExceptionError
	return errors.As(err, &ee) && ee.Code == ExIllegalDataAddress
}

// split adds a cut in the middle of every range refused as an illegal
// data address that holds tags at more than one register, and returns
// the cuts it added.
func (r *reader) split(p *readPlan, errs []error) []cutKey {
	var added []cutKey
	for ri, err := range errs {
		if !isIllegalAddress(err) {
			continue
		}
		rg := p.ranges[p.reqs[ri].rng]
		var starts []int
		for _, t := range p.tags {
			if int(t.reqLo) <= ri && ri < int(t.reqHi) {
				starts = append(starts, int(p.src[t.src].addr.Register))
			}
		}
		sort.Ints(starts)
		// The distinct starting registers after the range's first.
		var cands []int
		for i, s := range starts {
			if s != rg.start && (i == 0 || s != starts[i-1]) {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			continue
		}
		cut := cands[(len(cands)-1)/2]
		k := cutKey{rg.unit, rg.table, uint16(cut)}
		if !r.cuts[k] {
			r.cuts[k] = true
			added = append(added, k)
			r.d.log.Info("modbus device refused a range; reading it in two", zap.Uint8("unit", rg.unit), zap.Stringer("table", rg.table),
				zap.Int("from", rg.start), zap.Int("to", rg.end), zap.Int("cut", cut))
		}
	}
	return added
}

// fill sets the quality of every tag with a valid address.
func (r *reader) fill(out []plc.Sample, q plc.Quality) {
	for _, t := range r.valid {
		out[t.idx].Quality = q
	}
}

// run sends the plan's requests, up to InFlight at once, and returns
// each one's error; the data lands in p.buf.
func (r *reader) run(ctx context.Context, p *readPlan) []error {
	errs := make([]error, len(p.reqs))
	do := func(i int) {
		q := &p.reqs[i]
		rg := &p.ranges[q.rng]
		body, err := r.d.request(ctx, "read", rg.unit, q.pdu)
		if err != nil {
			errs[i] = err
			return
		}
		dst := p.buf[rg.bufOff+q.off*rg.table.width():]
		if rg.table.IsBits() {
			for k := range q.qty {
				dst[k] = body[k/8] >> (k % 8) & 1
			}
			return
		}
		copy(dst, body)
	}
	n := min(r.d.cfg.InFlight, len(p.reqs))
	if n <= 1 {
		for i := range p.reqs {
			do(i)
		}
		return errs
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range n {
		wg.Go(func() {
			for i := range next {
				do(i)
			}
		})
	}
	for i := range p.reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// extract decodes each tag of the plan into out.
func (r *reader) extract(p *readPlan, errs []error, out []plc.Sample) {
	for _, t := range p.tags {
		src := &p.src[t.src]
		s := &out[src.idx]
		s.Quality, s.Value = plc.Good, plc.Value{}
		for ri := t.reqLo; ri < t.reqHi; ri++ {
			if err := errs[ri]; err != nil {
				s.Quality = errQuality(err)
				break
			}
		}
		if !s.Quality.IsGood() {
			continue
		}
		rg := &p.ranges[t.rng]
		lo := rg.bufOff + int(t.off)*rg.table.width()
		if rg.table.IsBits() {
			s.Value = plc.BoolValue(p.buf[lo] == 1)
			continue
		}
		v, err := src.addr.Decode(p.buf[lo : lo+2*src.addr.Registers()])
		if err != nil {
			s.Quality = qualConfig
			continue
		}
		s.Value = v
	}
}
