package modbussim

import (
	"math/rand/v2"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
)

// ScatteredRegisters returns n holding-register values spread over units
// 1..units, for benchmarks: per unit, clusters of 1 to 20 values a few
// registers apart at random places of the register space, 70% UINT (one
// register), 20% REAL and 10% DINT (two), none overlapping; the same
// seed gives the same set.
func ScatteredRegisters(n, units int, seed uint64) []modbus.Address {
	r := rand.New(rand.NewPCG(seed, seed^0x6d6f6462))
	out := make([]modbus.Address, 0, n)
	for u := range units {
		per := n / units
		if u < n%units {
			per++
		}
		reg := r.IntN(200)
		for len(out) < cap(out) && per > 0 {
			cluster := 1 + r.IntN(20)
			for ; cluster > 0 && per > 0; cluster-- {
				t := plc.DataType{Kind: plc.UInt}
				switch x := r.IntN(10); {
				case x < 2:
					t = plc.TypeReal
				case x < 3:
					t = plc.TypeDInt
				}
				a := modbus.Address{Unit: uint8(u + 1), Table: modbus.HoldingRegisters, Register: uint16(reg), Bit: -1, Type: t, Order: modbus.ABCD, Base: 1}
				out = append(out, a)
				per--
				reg += a.Registers() + r.IntN(4)
			}
			reg += 20 + r.IntN(400)
			if reg > 60000 {
				reg = r.IntN(200)
			}
		}
	}
	return out
}

// Fill stores a value at every address of set: random values of each
// type, the same for the same seed.
func (s *Server) Fill(set []modbus.Address, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x66696c6c))
	for _, a := range set {
		var v plc.Value
		switch a.Type.Kind {
		case plc.Real:
			v = plc.FloatValue(plc.Real, float64(float32(r.NormFloat64()*100)))
		case plc.DInt:
			v = plc.IntValue(plc.DInt, int64(r.Int32()))
		default:
			v = plc.UintValue(plc.UInt, uint64(r.IntN(65536)))
		}
		if err := s.Store(a, v); err != nil {
			return err
		}
	}
	return nil
}
