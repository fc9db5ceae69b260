package s7

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/kiln-iot/kiln/plc"
)

// Decode returns the value of a's type held in b, the a.Size() bytes at
// a.Offset in PLC memory (big-endian, as S7 stores them). A BOOL reads
// bit a.Bit of b[0]; a STRING reads its S7 header (capacity, length) and
// as many characters as both allow.
func (a Address) Decode(b []byte) (plc.Value, error) {
	if len(b) < a.Size() {
		return plc.Value{}, fmt.Errorf("s7: %s needs %d bytes, have %d", a, a.Size(), len(b))
	}
	k := a.Type.Kind
	switch k {
	case plc.Bool:
		return plc.BoolValue(b[0]>>a.Bit&1 == 1), nil
	case plc.Real:
		return plc.FloatValue(k, float64(math.Float32frombits(binary.BigEndian.Uint32(b)))), nil
	case plc.LReal:
		return plc.FloatValue(k, math.Float64frombits(binary.BigEndian.Uint64(b))), nil
	case plc.String:
		n := min(int(b[1]), int(b[0]), a.Type.Len)
		return plc.StringValue(string(b[2 : 2+n])), nil
	}
	var u uint64
	switch k.Bits() {
	case 8:
		u = uint64(b[0])
	case 16:
		u = uint64(binary.BigEndian.Uint16(b))
	case 32:
		u = uint64(binary.BigEndian.Uint32(b))
	case 64:
		u = binary.BigEndian.Uint64(b)
	default:
		return plc.Value{}, fmt.Errorf("s7: cannot decode type %s", a.Type)
	}
	if k.IsSigned() {
		shift := 64 - k.Bits()
		return plc.IntValue(k, int64(u<<shift)>>shift), nil
	}
	return plc.UintValue(k, u), nil
}

// Encode returns the bytes that store v at a: v converted to a's type
// (refused when that loses information, see plc.Convert), big-endian. A
// BOOL encodes as one byte 0 or 1, the payload of a bit write; a STRING
// as its full S7 layout of Len+2 bytes, unused characters zero.
func (a Address) Encode(v plc.Value) ([]byte, error) {
	v, err := plc.Convert(v, a.Type)
	if err != nil {
		return nil, err
	}
	b := make([]byte, a.Size())
	k := a.Type.Kind
	switch {
	case k == plc.Bool:
		if v.Bool() {
			b[0] = 1
		}
	case k == plc.Real:
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(v.Float())))
	case k == plc.LReal:
		binary.BigEndian.PutUint64(b, math.Float64bits(v.Float()))
	case k == plc.String:
		s := v.Str()
		b[0], b[1] = byte(a.Type.Len), byte(len(s))
		copy(b[2:], s)
	case k.IsInteger():
		var u uint64
		if k.IsSigned() {
			i, _ := v.Int()
			u = uint64(i)
		} else {
			u, _ = v.Uint()
		}
		switch k.Bits() {
		case 8:
			b[0] = byte(u)
		case 16:
			binary.BigEndian.PutUint16(b, uint16(u))
		case 32:
			binary.BigEndian.PutUint32(b, uint32(u))
		default:
			binary.BigEndian.PutUint64(b, u)
		}
	default:
		return nil, fmt.Errorf("s7: cannot encode type %s", a.Type)
	}
	return b, nil
}
