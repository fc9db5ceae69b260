package s7sim

import (
	"encoding/binary"
	"testing"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// FuzzProcess feeds the server's request handling with arbitrary
// telegrams, on a connection that is fresh or already set up: it must
// answer or close, never panic, and answers must be well-formed TPKT
// frames.
func FuzzProcess(f *testing.F) {
	cr := []byte{3, 0, 0, 22, 17, 0xE0, 0, 0, 0, 1, 0, 0xC0, 1, 10, 0xC1, 2, 1, 0, 0xC2, 2, 1, 1}
	items := []wire.Item{
		{TS: wire.TSByte, Count: 4, DB: 1, Area: wire.AreaDB, Start: 2},
		{TS: wire.TSBit, Count: 1, Area: wire.AreaM, Start: 1, Bit: 3},
		{TS: wire.TSWord, Count: 2, DB: 99, Area: wire.AreaDB},
	}
	f.Add(cr, false)
	f.Add(wire.Frame([]byte{0x32, 1, 0, 0, 0, 1, 0, 8, 0, 0, 0xF0, 0, 0, 1, 0, 1, 1, 0xE0}), true)
	f.Add(wire.Frame(wire.ReadRequest(7, items)), true)
	f.Add(wire.Frame(wire.WriteRequest(8, items[:2], [][]byte{{1, 2, 3, 4}, {1}})), true)
	f.Add([]byte{3, 0, 0, 7, 2, 0xF0, 0x80}, true)
	f.Add([]byte{3, 0, 0, 33, 2, 240, 128, 50, 7, 0, 0, 5, 0, 0, 8, 0, 8, 0, 1, 18, 4, 17, 68, 1, 0, 255, 9, 0, 4, 0, 0x1C, 0, 0}, true)
	f.Fuzz(func(t *testing.T, frame []byte, setUp bool) {
		s := newServer(Config{DBs: map[int]int{1: 64}, MSize: 16}.withDefaults())
		s.SetItemError(wire.AreaDB, 1, 40, 0x03)
		st := &connState{}
		if setUp {
			st.connected, st.pdu = true, 240
		}
		if len(frame) >= wire.IsoHeaderLen {
			_ = isVarJob(frame) // serve asks it of every frame of at least that size
		}
		resp, _ := s.process(st, frame)
		if resp == nil {
			return
		}
		if len(resp) < wire.IsoHeaderLen || resp[0] != 3 || int(binary.BigEndian.Uint16(resp[2:])) != len(resp) {
			t.Fatalf("malformed answer % x", resp)
		}
	})
}
