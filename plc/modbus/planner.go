package modbus

import (
	"sort"

	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// The request planner turns the tags of a scan group into few requests.
// Tags of one unit and table are sorted by register and merged into one
// range while the unused registers between them are at most the gap and
// the range stays within one request (maxRegs registers, maxBits coils or
// inputs). A tag larger than a request (a long STRING) gets a range of
// its own, read in several requests. Greedy packing in address order
// gives the fewest requests for these rules; the planner's property test
// checks it against a brute-force optimum.

// planTag is one tag handed to the planner.
type planTag struct {
	idx  int32 // position in the caller's tag list
	addr Address
}

// cutKey names a register before which ranges are not merged: the
// device answered a range across it with an exception.
type cutKey struct {
	unit  uint8
	table Table
	reg   uint16
}

// prange is a merged run of registers (or bits) of one unit and table.
type prange struct {
	unit       uint8
	table      Table
	start, end int // registers [start, end)
	bufOff     int // where the range's data sits in readPlan.buf
	tags       int
}

// preq is one read request: a part of a range.
type preq struct {
	rng      int
	off, qty int // registers [off, off+qty) of the range
	pdu      []byte
}

// ptag locates a tag in a plan.
type ptag struct {
	src          int32 // the tag is readPlan.src[src]
	rng          int32
	off          int32 // registers from the range's start
	reqLo, reqHi int32 // requests [lo, hi) hold it
}

// readPlan is a scan group's reusable plan.
type readPlan struct {
	src    []planTag
	ranges []prange
	reqs   []preq
	tags   []ptag
	buf    []byte // 2 bytes per register, 1 per bit (unpacked)
}

// fc returns the read function code of a table.
func (t Table) readFC() byte {
	switch t {
	case Coils:
		return wire.FCReadCoils
	case DiscreteInputs:
		return wire.FCReadDiscreteInputs
	case InputRegisters:
		return wire.FCReadInputRegisters
	}
	return wire.FCReadHoldingRegisters
}

// width is the bytes one item of the table takes in readPlan.buf.
func (t Table) width() int {
	if t.IsBits() {
		return 1
	}
	return 2
}

// limits are the planner's settings.
type limits struct {
	maxRegs, maxBits int
	gap              int // unused items allowed between two tags of a range
}

func (l limits) max(t Table) int {
	if t.IsBits() {
		return l.maxBits
	}
	return l.maxRegs
}

// planReads plans the reads of tags. Ranges are never merged across a
// register in cuts.
func planReads(tags []planTag, l limits, cuts map[cutKey]bool) *readPlan {
	sorted := make([]int32, len(tags))
	for i := range sorted {
		sorted[i] = int32(i)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := &tags[sorted[i]].addr, &tags[sorted[j]].addr
		if a.Unit != b.Unit {
			return a.Unit < b.Unit
		}
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Register < b.Register
	})
	p := &readPlan{src: tags, tags: make([]ptag, 0, len(tags))}
	cur := -1
	for _, si := range sorted {
		a := &tags[si].addr
		start, end := int(a.Register), int(a.Register)+a.Registers()
		if cur >= 0 {
			r := &p.ranges[cur]
			m := l.max(a.Table)
			if r.unit == a.Unit && r.table == a.Table && start <= r.end+l.gap &&
				max(r.end, end)-r.start <= m && !cuts[cutKey{a.Unit, a.Table, a.Register}] {
				r.end = max(r.end, end)
				r.tags++
				p.tags = append(p.tags, ptag{src: si, rng: int32(cur), off: int32(start - r.start)})
				continue
			}
		}
		p.ranges = append(p.ranges, prange{unit: a.Unit, table: a.Table, start: start, end: end, tags: 1})
		cur = len(p.ranges) - 1
		p.tags = append(p.tags, ptag{src: si, rng: int32(cur)})
	}
	size := 0
	first := make([]int, len(p.ranges)) // first request of each range
	for i := range p.ranges {
		r := &p.ranges[i]
		r.bufOff = size
		size += (r.end - r.start) * r.table.width()
		first[i] = len(p.reqs)
		m := l.max(r.table)
		for off := 0; off < r.end-r.start; off += m {
			qty := min(m, r.end-r.start-off)
			p.reqs = append(p.reqs, preq{rng: i, off: off, qty: qty,
				pdu: wire.ReadRequest(r.table.readFC(), uint16(r.start+off), uint16(qty))})
		}
	}
	p.buf = make([]byte, size)
	for i := range p.tags {
		t := &p.tags[i]
		n := tags[t.src].addr.Registers()
		m := l.max(p.ranges[t.rng].table)
		lo := first[t.rng] + int(t.off)/m
		hi := first[t.rng] + (int(t.off)+n-1)/m + 1
		t.reqLo, t.reqHi = int32(lo), int32(hi)
	}
	return p
}

// MinRequests is the fewest read requests any plan could need for addrs
// when gaps may be filled: per unit and table, the registers (or bits)
// from the first to the last, cut at the request limits (maxRegs
// registers, maxBits bits; 0 means the protocol's 125 and 2000), with
// the empty stretches a request cannot bridge left out. It is the
// yardstick of the benchmark.
func MinRequests(addrs []Address, maxRegs, maxBits int) int {
	if maxRegs <= 0 {
		maxRegs = wire.MaxReadRegisters
	}
	if maxBits <= 0 {
		maxBits = wire.MaxReadBits
	}
	tags := make([]planTag, len(addrs))
	for i, a := range addrs {
		tags[i] = planTag{idx: int32(i), addr: a}
	}
	return len(planReads(tags, limits{maxRegs: maxRegs, maxBits: maxBits, gap: 1 << 20}, nil).reqs)
}
