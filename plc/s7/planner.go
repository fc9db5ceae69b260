package s7

import (
	"sort"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// The request planner turns the tags of a scan group into few round
// trips. It merges tags of one area/DB whose byte ranges are close (at
// most gap bytes apart) into one range, cuts ranges into items so that
// every Read Var request and its response fit the PDU, and packs items
// into requests of at most maxItems items. Ranges are streamed into
// requests in address order and cut wherever a request is full, so every
// request but the last carries a full PDU of data: the round trips come
// close to total bytes / usable payload.

// autoGaps are the gap thresholds tried when the gap is automatic; the
// plan with the fewest requests (then the fewest bytes) wins.
var autoGaps = []int{0, 2, 4, 8, 16, 32, 64, 128, 256}

// minCut is the fewest bytes worth starting an item with at the end of a
// request rather than starting the next request.
const minCut = 8

// planTag is one tag handed to the planner.
type planTag struct {
	idx  int32 // position in the caller's tag list
	addr Address
	// alone keeps the tag in a range of its own (it failed with an item
	// error when it shared one).
	alone bool
}

// prange is a merged byte range of one area/DB.
type prange struct {
	area       Area
	db         int
	start, end int // bytes [start, end)
	bufOff     int // where the range's bytes sit in readPlan.buf
	tags       int // how many tags the range holds
}

// pchunk is the part of a range one request item reads.
type pchunk struct {
	rng     int
	off, n  int // bytes [off, off+n) of the range
	req, it int // request and item index
}

// preq is one Read Var request.
type preq struct {
	items  []wire.Item
	chunks []int  // chunk index of each item
	frame  []byte // encoded telegram, TPKT included; the PDU reference is set per send
	resp   int    // PDU size of the answer
}

// ptag locates a tag's bytes. It is kept small (a plan holds one per
// tag): the tag's position and address are in readPlan.src.
type ptag struct {
	src              int32 // the tag is readPlan.src[src]
	rng              int32
	off              int32 // offset of the tag in its range
	chunkLo, chunkHi int32 // chunks [lo, hi) hold its bytes
}

// readPlan is the reusable plan of a scan group for one PDU size.
type readPlan struct {
	src    []planTag // the tags planned, as given to planReads
	pdu    int
	ranges []prange
	chunks []pchunk
	reqs   []preq
	tags   []ptag
	buf    []byte // every range's bytes, refilled by each read
	bytes  int    // total data bytes read per scan
}

// planReads plans reads of tags for a PDU of pdu bytes. gap < 0 means
// automatic.
func planReads(tags []planTag, pdu, maxItems, gap int) *readPlan {
	if gap >= 0 {
		return buildPlan(tags, pdu, maxItems, gap)
	}
	var best *readPlan
	for _, g := range autoGaps {
		p := buildPlan(tags, pdu, maxItems, g)
		if best == nil || len(p.reqs) < len(best.reqs) || (len(p.reqs) == len(best.reqs) && p.bytes < best.bytes) {
			best = p
		}
	}
	return best
}

func buildPlan(tags []planTag, pdu, maxItems, gap int) *readPlan {
	sorted := make([]int32, len(tags)) // positions in tags, by address
	for i := range sorted {
		sorted[i] = int32(i)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := &tags[sorted[i]].addr, &tags[sorted[j]].addr
		if a.Area != b.Area {
			return a.Area < b.Area
		}
		if a.DB != b.DB {
			return a.DB < b.DB
		}
		return a.Offset < b.Offset
	})
	p := &readPlan{src: tags, pdu: pdu}
	p.tags = make([]ptag, 0, len(tags))
	cur := -1
	alone := make([]bool, 0, len(tags)) // per range: nothing joins it
	for _, si := range sorted {
		t := &tags[si]
		a := &t.addr
		end := a.Offset + a.Size()
		if cur >= 0 && !t.alone && !alone[cur] {
			r := &p.ranges[cur]
			if r.area == a.Area && r.db == a.DB && a.Offset <= r.end+gap {
				r.end = max(r.end, end)
				r.tags++
				p.tags = append(p.tags, ptag{src: si, rng: int32(cur), off: int32(a.Offset - r.start)})
				continue
			}
		}
		p.ranges = append(p.ranges, prange{area: a.Area, db: a.DB, start: a.Offset, end: end, tags: 1})
		alone = append(alone, t.alone)
		cur = len(p.ranges) - 1
		p.tags = append(p.tags, ptag{src: si, rng: int32(cur)})
	}
	for i := range p.ranges {
		p.ranges[i].bufOff = p.bytes
		p.bytes += p.ranges[i].end - p.ranges[i].start
	}
	p.buf = make([]byte, p.bytes)

	// Stream the ranges into requests.
	var req preq
	resp := wire.ReadResponseSize()
	flush := func() {
		if len(req.items) > 0 {
			req.resp = resp
			req.frame = wire.Frame(wire.ReadRequest(0, req.items))
			p.reqs = append(p.reqs, req)
		}
		req, resp = preq{}, wire.ReadResponseSize()
	}
	maxN := min(maxItems, (pdu-wire.ReadRequestSize(0))/wire.ItemSpecLen, 255)
	for ri, r := range p.ranges {
		length := r.end - r.start
		for off := 0; off < length; {
			room := (pdu - resp - wire.DataItemHeaderLen) &^ 1
			rest := length - off
			if len(req.items) >= maxN || room < min(rest, minCut) {
				flush()
				continue
			}
			n := min(rest, room, 0xFFFF)
			req.items = append(req.items, wire.Item{TS: wire.TSByte, Count: uint16(n), DB: uint16(r.db), Area: byte(r.area), Start: r.start + off})
			req.chunks = append(req.chunks, len(p.chunks))
			p.chunks = append(p.chunks, pchunk{rng: ri, off: off, n: n, req: len(p.reqs), it: len(req.items) - 1})
			resp += wire.DataItemHeaderLen + wire.Padded(n)
			off += n
		}
	}
	flush()

	// Locate each tag's chunks; chunks of one range are consecutive.
	first := make([]int, len(p.ranges))
	for i := len(p.chunks) - 1; i >= 0; i-- {
		first[p.chunks[i].rng] = i
	}
	for i := range p.tags {
		t := &p.tags[i]
		rng, off, size := int(t.rng), int(t.off), tags[t.src].addr.Size()
		c := first[rng]
		for p.chunks[c].off+p.chunks[c].n <= off {
			c++
		}
		t.chunkLo = int32(c)
		for c < len(p.chunks) && p.chunks[c].rng == rng && p.chunks[c].off < off+size {
			c++
		}
		t.chunkHi = int32(c)
	}
	return p
}

// MinRoundTrips is the fewest Read Var requests any plan could need to
// read addrs with a PDU of pdu bytes: the bytes they cover (overlaps
// counted once) over the payload of one request holding one item. It is
// the yardstick for the planner.
func MinRoundTrips(addrs []Address, pdu int) int {
	type key struct {
		area Area
		db   int
	}
	spans := map[key][][2]int{}
	for _, a := range addrs {
		k := key{a.Area, a.DB}
		spans[k] = append(spans[k], [2]int{a.Offset, a.Offset + a.Size()})
	}
	total := 0
	for _, s := range spans {
		sort.Slice(s, func(i, j int) bool { return s[i][0] < s[j][0] })
		end := -1
		for _, iv := range s {
			if iv[0] >= end {
				total += iv[1] - iv[0]
			} else if iv[1] > end {
				total += iv[1] - end
			}
			end = max(end, iv[1])
		}
	}
	payload := pdu - wire.ReadResponseSize(0) - wire.DataItemHeaderLen
	return (total + payload - 1) / payload
}
