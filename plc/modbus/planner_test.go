package modbus

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

func mustTags(t *testing.T, addrs ...string) []planTag {
	t.Helper()
	var out []planTag
	for i, s := range addrs {
		a, err := ParseAddress(s, plc.DataType{}, AddressDefaults{Unit: 1, ZeroBased: true})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, planTag{idx: int32(i), addr: a})
	}
	return out
}

// checkPlan verifies the invariants every plan keeps: every request
// within the limits and the protocol's, every tag inside its range and
// covered by its requests, ranges of one unit and table.
func checkPlan(t *testing.T, p *readPlan, tags []planTag, l limits) {
	t.Helper()
	for i, r := range p.reqs {
		rg := p.ranges[r.rng]
		if r.qty < 1 || r.qty > l.max(rg.table) || (!rg.table.IsBits() && r.qty > 125) || r.qty > 2000 {
			t.Errorf("request %d reads %d items of %s", i, r.qty, rg.table)
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
		a := p.src[pt.src].addr
		rg := p.ranges[pt.rng]
		lo, hi := int(a.Register), int(a.Register)+a.Registers()
		if rg.unit != a.Unit || rg.table != a.Table || rg.start+int(pt.off) != lo || hi > rg.end {
			t.Errorf("tag %v not inside its range %+v", a, rg)
		}
		covered := lo
		for ri := pt.reqLo; ri < pt.reqHi; ri++ {
			r := p.reqs[ri]
			if r.rng != int(pt.rng) || rg.start+r.off > covered {
				t.Errorf("tag %v: request %+v leaves a hole at %d", a, r, covered)
			}
			covered = max(covered, rg.start+r.off+r.qty)
		}
		if covered < hi {
			t.Errorf("tag %v: requests cover up to %d of [%d,%d)", a, covered, lo, hi)
		}
	}
}

func TestPlanMergesCloseRegisters(t *testing.T) {
	tags := mustTags(t, "HR0", "HR1:REAL", "HR10", "HR200", "2!HR0", "IR0", "CO0", "CO5", "HR0.3")
	p := planReads(tags, limits{maxRegs: 125, maxBits: 2000, gap: 8}, nil)
	checkPlan(t, p, tags, limits{maxRegs: 125, maxBits: 2000})
	// HR0..HR10 | HR200 | 2!HR0 | IR0 | CO0..CO5
	if len(p.reqs) != 5 {
		t.Errorf("gap 8: %d requests, want 5: %+v", len(p.reqs), p.ranges)
	}
	p = planReads(tags, limits{maxRegs: 125, maxBits: 2000, gap: 0}, nil)
	// HR0..HR2 | HR10 | HR200 | 2!HR0 | IR0 | CO0 | CO5
	if len(p.reqs) != 7 {
		t.Errorf("gap 0: %d requests, want 7", len(p.reqs))
	}
}

func TestPlanRespectsLimits(t *testing.T) {
	tags := mustTags(t, "HR0", "HR124", "HR125", "HR10:STRING[254]", "CO0", "CO1999", "CO2000")
	l := limits{maxRegs: 125, maxBits: 2000, gap: 1 << 20}
	p := planReads(tags, l, nil)
	checkPlan(t, p, tags, l)
	l = limits{maxRegs: 16, maxBits: 64, gap: 1 << 20}
	p = planReads(tags, l, nil)
	checkPlan(t, p, tags, l)
}

func TestPlanHonoursCuts(t *testing.T) {
	tags := mustTags(t, "HR0", "HR1", "HR2", "HR3")
	l := limits{maxRegs: 125, maxBits: 2000, gap: 10}
	p := planReads(tags, l, map[cutKey]bool{{1, HoldingRegisters, 2}: true})
	if len(p.reqs) != 2 || p.ranges[0].end != 2 {
		t.Errorf("cut at 2: %+v", p.ranges)
	}
}

// optimum is the fewest requests for tags by brute force: every
// partition of the tags into groups, each of one unit and table, within
// the request limit and without a hole longer than the gap, costing one
// request per max items of its span (a tag longer than a request alone
// costs several).
func optimum(tags []planTag, l limits) int {
	best := 1 << 30
	group := make([]int, len(tags))
	var rec func(i, groups int)
	rec = func(i, groups int) {
		if groups >= best {
			return
		}
		if i == len(tags) {
			cost := 0
			for g := range groups {
				c, ok := groupCost(tags, group, g, l)
				if !ok {
					return
				}
				cost += c
			}
			best = min(best, cost)
			return
		}
		for g := 0; g <= groups; g++ {
			group[i] = g
			rec(i+1, max(groups, g+1))
		}
	}
	rec(0, 0)
	return best
}

func groupCost(tags []planTag, group []int, g int, l limits) (int, bool) {
	type iv struct{ lo, hi int }
	var ivs []iv
	var first *Address
	for i, t := range tags {
		if group[i] != g {
			continue
		}
		a := t.addr
		if first == nil {
			first = &tags[i].addr
		} else if a.Unit != first.Unit || a.Table != first.Table {
			return 0, false
		}
		ivs = append(ivs, iv{int(a.Register), int(a.Register) + a.Registers()})
	}
	slices.SortFunc(ivs, func(a, b iv) int { return a.lo - b.lo })
	end := ivs[0].hi
	for _, v := range ivs[1:] {
		if v.lo > end+l.gap {
			return 0, false
		}
		end = max(end, v.hi)
	}
	span, m := end-ivs[0].lo, l.max(first.Table)
	if len(ivs) > 1 && span > m {
		return 0, false
	}
	return (span + m - 1) / m, true
}

func TestPlanMatchesBruteForceOptimum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 19))
	types := []plc.DataType{{Kind: plc.UInt}, plc.TypeReal, plc.TypeLReal, plc.StringType(9), plc.TypeBool}
	for n := range 400 {
		var tags []planTag
		for i := range 1 + r.IntN(8) {
			a := Address{Unit: uint8(1 + r.IntN(2)), Table: HoldingRegisters, Register: uint16(r.IntN(60)), Bit: -1, Order: ABCD}
			switch r.IntN(6) {
			case 0:
				a.Table, a.Type = Coils, plc.TypeBool
			case 1:
				a.Table, a.Type = InputRegisters, types[r.IntN(3)]
			default:
				a.Type = types[r.IntN(len(types))]
				if a.Type.Kind == plc.Bool {
					a.Bit = int8(r.IntN(16))
				}
			}
			tags = append(tags, planTag{idx: int32(i), addr: a})
		}
		l := limits{maxRegs: 2 + r.IntN(20), maxBits: 2 + r.IntN(30), gap: r.IntN(12)}
		p := planReads(tags, l, nil)
		checkPlan(t, p, tags, l)
		if want := optimum(tags, l); len(p.reqs) != want {
			t.Fatalf("case %d: %d requests, optimum %d; limits %+v, tags %+v, ranges %+v", n, len(p.reqs), want, l, tags, p.ranges)
		}
	}
}

func TestMinRequests(t *testing.T) {
	var addrs []Address
	for _, tg := range mustTags(t, "HR0", "HR124", "HR125", "HR400", "2!HR0", "CO0", "CO2500") {
		addrs = append(addrs, tg.addr)
	}
	if got := MinRequests(addrs, 0, 0); got != 6 {
		t.Errorf("MinRequests = %d, want 6", got)
	}
}
