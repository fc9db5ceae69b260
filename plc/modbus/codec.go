package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// arrange puts b, a value's registers as they travel (each register
// big-endian), into big-endian byte order for order o, or back: each
// order's rearrangement is its own inverse.
func arrange(dst, b []byte, o Order, str bool) {
	n := len(b)
	switch {
	case o == DCBA && !str:
		for i := range n {
			dst[i] = b[n-1-i]
		}
	case o == CDAB && !str:
		for w := 0; w < n; w += 2 {
			dst[w], dst[w+1] = b[n-2-w], b[n-1-w]
		}
	case o == BADC || o == DCBA:
		for w := 0; w < n; w += 2 {
			dst[w], dst[w+1] = b[w+1], b[w]
		}
	default:
		copy(dst, b)
	}
}

// Decode returns the value of a's type held in b, the 2*a.Registers()
// bytes of its registers as they travel. A bit in a register reads bit
// a.Bit (0 the least significant) of the register. A STRING reads up to
// its first NUL. Coils and discrete inputs are not decoded here.
func (a Address) Decode(b []byte) (plc.Value, error) {
	n := 2 * a.Registers()
	if len(b) < n {
		return plc.Value{}, fmt.Errorf("modbus: %s needs %d bytes, have %d", a, n, len(b))
	}
	if a.Bit >= 0 {
		return plc.BoolValue(binary.BigEndian.Uint16(b)>>a.Bit&1 == 1), nil
	}
	var tmp [8]byte
	k := a.Type.Kind
	if k == plc.String {
		s := make([]byte, n)
		arrange(s, b[:n], a.Order, true)
		s = s[:a.Type.Len]
		if i := strings.IndexByte(string(s), 0); i >= 0 {
			s = s[:i]
		}
		return plc.StringValue(string(s)), nil
	}
	v := tmp[:n]
	arrange(v, b[:n], a.Order, false)
	var u uint64
	switch k.Bits() {
	case 16:
		u = uint64(binary.BigEndian.Uint16(v))
	case 32:
		u = uint64(binary.BigEndian.Uint32(v))
	case 64:
		u = binary.BigEndian.Uint64(v)
	default:
		return plc.Value{}, fmt.Errorf("modbus: cannot decode type %s", a.Type)
	}
	switch {
	case k == plc.Real:
		return plc.FloatValue(k, float64(math.Float32frombits(uint32(u)))), nil
	case k == plc.LReal:
		return plc.FloatValue(k, math.Float64frombits(u)), nil
	case k.IsSigned():
		shift := 64 - k.Bits()
		return plc.IntValue(k, int64(u<<shift)>>shift), nil
	}
	return plc.UintValue(k, u), nil
}

// Encode returns the register bytes, as they travel, that store v at a:
// v converted to a's type (refused when that loses information, see
// plc.Convert) and arranged in a's order. A STRING is padded with NULs
// to its registers; one longer than its type is refused. A bit in a
// register cannot be encoded on its own (it needs the other bits): use
// SetBit.
func (a Address) Encode(v plc.Value) ([]byte, error) {
	if a.Bit >= 0 || a.Table.IsBits() {
		return nil, fmt.Errorf("modbus: %s is a bit, not registers", a)
	}
	v, err := plc.Convert(v, a.Type)
	if err != nil {
		return nil, err
	}
	n := 2 * a.Registers()
	raw := make([]byte, n)
	k := a.Type.Kind
	if k == plc.String {
		s := v.Str()
		if len(s) > a.Type.Len {
			return nil, fmt.Errorf("modbus: %s: %d bytes do not fit %s", a, len(s), a.Type)
		}
		copy(raw, s)
		out := make([]byte, n)
		arrange(out, raw, a.Order, true)
		return out, nil
	}
	var u uint64
	switch {
	case k == plc.Real:
		u = uint64(math.Float32bits(float32(v.Float())))
	case k == plc.LReal:
		u = math.Float64bits(v.Float())
	case k.IsSigned():
		i, _ := v.Int()
		u = uint64(i)
	default:
		u, _ = v.Uint()
	}
	switch n {
	case 2:
		binary.BigEndian.PutUint16(raw, uint16(u))
	case 4:
		binary.BigEndian.PutUint32(raw, uint32(u))
	case 8:
		binary.BigEndian.PutUint64(raw, u)
	}
	out := make([]byte, n)
	arrange(out, raw, a.Order, false)
	return out, nil
}

// SetBit returns the register reg with a's bit set to on.
func (a Address) SetBit(reg uint16, on bool) uint16 {
	if on {
		return reg | 1<<a.Bit
	}
	return reg &^ (1 << a.Bit)
}
