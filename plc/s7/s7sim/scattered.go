package s7sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-iot/kiln/plc"
)

// kinds is the type mix, by weight.
var kinds = []struct {
	typ    string
	weight int
}{
	{"BOOL", 20}, {"INT", 20}, {"REAL", 20}, {"DINT", 10}, {"WORD", 10}, {"LREAL", 8}, {"BYTE", 7}, {"STRING[16]", 5},
}

// ScatteredTags returns a tag set for benchmarks: n tags of mixed types
// (BOOL, INT, REAL, DINT, WORD, LREAL, BYTE, STRING[16]) spread evenly
// over data blocks 1..dbs, in clusters with small and large gaps, and the
// size each data block needs (for Config.DBs). The same seed gives the
// same set, so benchmarks of several clients read the same tags.
func ScatteredTags(n, dbs int, seed uint64) (tags []plc.Tag, dbSizes map[int]int) {
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
