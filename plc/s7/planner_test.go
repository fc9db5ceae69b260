package s7

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

func mustTags(t *testing.T, addrs ...string) []planTag {
	t.Helper()
	var out []planTag
	for i, s := range addrs {
		a, err := ParseAddress(s, plc.DataType{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, planTag{idx: int32(i), addr: a})
	}
	return out
}

// checkPlan verifies the invariants every plan must keep.
func checkPlan(t *testing.T, p *readPlan, tags []planTag, maxItems int) {
	t.Helper()
	for i, r := range p.reqs {
		if len(r.items) == 0 || len(r.items) > maxItems {
			t.Errorf("request %d has %d items (max %d)", i, len(r.items), maxItems)
		}
		if n := len(r.frame) - wire.IsoHeaderLen; n > p.pdu || n != wire.ReadRequestSize(len(r.items)) {
			t.Errorf("request %d is %d bytes, PDU %d", i, n, p.pdu)
		}
		lens := make([]int, len(r.items))
		for k, it := range r.items {
			lens[k] = it.DataLen()
		}
		if got := wire.ReadResponseSize(lens...); got > p.pdu || got != r.resp {
			t.Errorf("request %d answer is %d bytes (planned %d), PDU %d", i, got, r.resp, p.pdu)
		}
	}
	if len(p.tags) != len(tags) {
		t.Fatalf("plan has %d tags, want %d", len(p.tags), len(tags))
	}
	seen := make([]bool, len(tags))
	for _, pt := range p.tags {
		if seen[pt.src] {
			t.Errorf("tag %d planned twice", pt.src)
		}
		seen[pt.src] = true
		addr := p.src[pt.src].addr
		rg := p.ranges[pt.rng]
		off := int(pt.off)
		if rg.area != addr.Area || rg.db != addr.DB || rg.start+off != addr.Offset || addr.Offset+addr.Size() > rg.end {
			t.Errorf("tag %v not inside its range %+v", addr, rg)
		}
		covered := off
		for c := pt.chunkLo; c < pt.chunkHi; c++ {
			ch := p.chunks[c]
			if ch.rng != int(pt.rng) || ch.off > covered {
				t.Errorf("tag %v: chunk %+v leaves a hole at %d", addr, ch, covered)
			}
			covered = max(covered, ch.off+ch.n)
			it := p.reqs[ch.req].items[ch.it]
			if it.Start != rg.start+ch.off || int(it.Count) != ch.n || int(it.DB) != rg.db || Area(it.Area) != rg.area {
				t.Errorf("chunk %+v does not match its item %+v", ch, it)
			}
		}
		if covered < off+addr.Size() {
			t.Errorf("tag %v: chunks cover up to %d of its %d bytes", addr, covered-off, addr.Size())
		}
	}
}

func TestPlanMergesCloseTags(t *testing.T) {
	tags := mustTags(t, "DB1.DBW0", "DB1.DBW2", "DB1.DBX4.0", "DB1.DBX4.1", "DB1.DBD100", "DB2.DBW0", "MW0")
	p := planReads(tags, 480, 20, 4)
	checkPlan(t, p, tags, 20)
	if len(p.ranges) != 4 || len(p.reqs) != 1 {
		t.Errorf("gap 4: %d ranges in %d requests, want 4 in 1: %+v", len(p.ranges), len(p.reqs), p.ranges)
	}
	p = planReads(tags, 480, 20, 100)
	if len(p.ranges) != 3 {
		t.Errorf("gap 100: %d ranges, want 3", len(p.ranges))
	}
}

func TestPlanSplitsLongRanges(t *testing.T) {
	tags := mustTags(t, "DB1.DBB0", "DB1.DBB999", "DB1.DBB100[254]")
	for _, pdu := range []int{240, 480, 960} {
		p := planReads(tags, pdu, 20, 1000)
		checkPlan(t, p, tags, 20)
		payload := pdu - 18
		if want := (1000 + payload - 1) / payload; len(p.reqs) != want {
			t.Errorf("PDU %d: %d requests for 1000 bytes, want %d", pdu, len(p.reqs), want)
		}
	}
}

func TestPlanItemLimit(t *testing.T) {
	var addrs []string
	for i := range 45 {
		addrs = append(addrs, "DB"+strconv.Itoa(i+1)+".DBW0")
	}
	tags := mustTags(t, addrs...)
	p := planReads(tags, 960, 20, -1)
	checkPlan(t, p, tags, 20)
	if len(p.reqs) != 3 {
		t.Errorf("45 items at 20 a request: %d requests", len(p.reqs))
	}
}

func TestPlanRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"BOOL", "BYTE", "INT", "DINT", "REAL", "LREAL", "STRING[30]", "STRING[254]"}
	for range 200 {
		var tags []planTag
		for i := range 1 + r.IntN(150) {
			typ, _ := plc.ParseDataType(types[r.IntN(len(types))])
			a := Address{Area: AreaDB, DB: 1 + r.IntN(3), Offset: r.IntN(3000), Type: typ}
			if typ.Kind == plc.Bool {
				a.Bit = r.IntN(8)
			}
			tags = append(tags, planTag{idx: int32(i), addr: a, alone: r.IntN(20) == 0})
		}
		pdu := []int{64, 240, 480, 960}[r.IntN(4)]
		maxItems := 1 + r.IntN(25)
		gap := r.IntN(300) - 1
		p := planReads(tags, pdu, maxItems, gap)
		checkPlan(t, p, tags, maxItems)
	}
}

func TestMinRoundTrips(t *testing.T) {
	addrs := []Address{
		{Area: AreaDB, DB: 1, Offset: 0, Type: plc.TypeLReal},
		{Area: AreaDB, DB: 1, Offset: 4, Type: plc.TypeDInt}, // overlaps the LREAL
		{Area: AreaDB, DB: 2, Offset: 0, Type: plc.StringType(254)},
		{Area: AreaDB, DB: 2, Offset: 0, Bit: 1, Type: plc.TypeBool},
	}
	// 8 + 256 bytes over 480-18 bytes a request.
	if got := MinRoundTrips(addrs, 480); got != 1 {
		t.Errorf("PDU 480: %d", got)
	}
	if got := MinRoundTrips(addrs, 240); got != 2 {
		t.Errorf("PDU 240: %d", got)
	}
}
