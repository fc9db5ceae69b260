package benchset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/robinson/gos7"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// kinds is the type mix, by weight.
var kinds = []struct {
	typ    string
	weight int
}{
	{"BOOL", 20}, {"INT", 20}, {"REAL", 20}, {"DINT", 10}, {"WORD", 10}, {"LREAL", 8}, {"BYTE", 7}, {"STRING[16]", 5},
}

// Tags returns n tags spread evenly over data blocks 1..dbs, and the size
// each data block needs. The same seed gives the same set.
func Tags(n, dbs int, seed uint64) (tags []plc.Tag, dbSizes map[int]int) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	pick := func() plc.DataType {
		x := r.IntN(total)
		for _, k := range kinds {
			if x < k.weight {
				t, _ := plc.ParseDataType(k.typ)
				return t
			}
			x -= k.weight
		}
		panic("unreachable")
	}
	off := make([]int, dbs+1)
	bit := make([]int, dbs+1) // next free bit while packing BOOLs
	inCluster := make([]int, dbs+1)
	for i := range n {
		db := 1 + i%dbs
		if inCluster[db] == 0 { // start a cluster: close to the last one or far away
			inCluster[db] = 1 + r.IntN(20)
			if off[db] > 0 {
				if r.IntN(2) == 0 {
					off[db] += 2 + r.IntN(14)
				} else {
					off[db] += 200 + r.IntN(1800)
				}
			}
			bit[db] = 0
		}
		inCluster[db]--
		t := pick()
		var addr string
		if t.Kind == plc.Bool {
			addr = fmt.Sprintf("DB%d.DBX%d.%d", db, off[db], bit[db])
			bit[db]++
			if bit[db] == 8 {
				bit[db], off[db] = 0, off[db]+1
			}
		} else {
			if bit[db] > 0 {
				bit[db], off[db] = 0, off[db]+1
			}
			off[db] += off[db] & 1 // words start at even bytes
			w := map[int]string{16: "W", 32: "D"}[t.Kind.Bits()]
			if w == "" {
				w = "B"
			}
			addr = fmt.Sprintf("DB%d.DB%s%d", db, w, off[db])
			off[db] += t.Size()
		}
		tags = append(tags, plc.Tag{Name: fmt.Sprintf("t%04d", i), Address: addr, Type: t})
	}
	dbSizes = map[int]int{}
	for db := 1; db <= dbs; db++ {
		dbSizes[db] = off[db] + 2
	}
	return tags, dbSizes
}

// Result is one method's measurement.
type Result struct {
	Method        string
	RoundTrips    float64       // requests per scan, counted by the server
	ScanTime      time.Duration // mean time of one scan
	MinRoundTrips int           // the fewest requests possible for the tag set
}

// Compare scans tags scans times with the planning driver and with the
// naive way (one gos7 AGReadDB per tag) against srv, and returns both
// results.
func Compare(ctx context.Context, srv *s7sim.Server, tags []plc.Tag, scans int) ([]Result, error) {
	d, err := s7.New(srv.Addr(), s7.Config{})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	r, err := d.Prepare(tags)
	if err != nil {
		return nil, err
	}
	out := make([]plc.Sample, len(tags))
	if err := r.Read(ctx, out); err != nil { // connect and plan
		return nil, err
	}
	addrs := make([]s7.Address, len(tags))
	for i, t := range tags {
		if !out[i].Quality.IsGood() {
			return nil, fmt.Errorf("benchset: %s: %v", t.Address, out[i].Quality)
		}
		if addrs[i], err = s7.ParseAddress(t.Address, t.Type); err != nil {
			return nil, err
		}
	}
	minimal := s7.MinRoundTrips(addrs, d.PDUSize())

	before, start := srv.Requests(), time.Now()
	for range scans {
		if err := r.Read(ctx, out); err != nil {
			return nil, err
		}
	}
	planned := Result{Method: "planner", ScanTime: time.Since(start) / time.Duration(scans), MinRoundTrips: minimal,
		RoundTrips: float64(srv.Requests()-before) / float64(scans)}

	h := gos7.NewTCPClientHandler(srv.Addr(), 0, 1)
	h.IdleTimeout = 0
	if err := h.Connect(); err != nil {
		return nil, err
	}
	defer h.Close()
	c := gos7.NewClient(h)
	buf := make([]byte, 256)
	before, start = srv.Requests(), time.Now()
	for range scans {
		for _, a := range addrs {
			if err := c.AGReadDB(a.DB, a.Offset, a.Size(), buf); err != nil {
				return nil, fmt.Errorf("benchset: naive read of %s: %w", a, err)
			}
		}
	}
	naive := Result{Method: "naive (AGReadDB per tag)", ScanTime: time.Since(start) / time.Duration(scans), MinRoundTrips: minimal,
		RoundTrips: float64(srv.Requests()-before) / float64(scans)}
	return []Result{planned, naive}, nil
}
