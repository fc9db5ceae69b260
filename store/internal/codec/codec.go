package codec

import (
	"fmt"
	"math"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// Split returns v's storage form: its kind, and either num (BOOL as 0/1,
// integers as their two's-complement bits, REAL/LREAL as IEEE 754 bits,
// DATETIME as Unix nanoseconds) or str (STRING, BYTESTRING). isStr says
// which; the zero Value has neither.
func Split(v plc.Value) (kind int16, num int64, str string, isStr bool) {
	k := v.Kind()
	switch {
	case k == plc.Bool:
		if v.Bool() {
			num = 1
		}
	case k.IsSigned():
		num, _ = v.Int()
	case k.IsUnsigned():
		u, _ := v.Uint()
		num = int64(u)
	case k.IsFloat():
		num = int64(math.Float64bits(v.Float()))
	case k == plc.DateTime:
		num = v.Time().UnixNano()
	case k == plc.String, k == plc.ByteString:
		return int16(k), 0, v.Str(), true
	}
	return int16(k), num, "", false
}

// HasNum reports whether values of kind are stored as num.
func HasNum(kind int16) bool {
	k := plc.Kind(kind)
	return k != plc.KindInvalid && k != plc.String && k != plc.ByteString
}

// IsFloat reports whether values of kind are floats.
func IsFloat(kind int16) bool { return plc.Kind(kind).IsFloat() }

// Join rebuilds the value Split took apart. It fails for a kind it does
// not know, which means the stored row is damaged.
func Join(kind int16, num int64, str []byte) (plc.Value, error) {
	k := plc.Kind(kind)
	switch {
	case k == plc.KindInvalid:
		return plc.Value{}, nil
	case k == plc.Bool:
		return plc.BoolValue(num != 0), nil
	case k.IsSigned():
		return plc.IntValue(k, num), nil
	case k.IsUnsigned():
		return plc.UintValue(k, uint64(num)), nil
	case k.IsFloat():
		return plc.FloatValue(k, math.Float64frombits(uint64(num))), nil
	case k == plc.DateTime:
		return plc.TimeValue(time.Unix(0, num)), nil
	case k == plc.String:
		return plc.StringValue(string(str)), nil
	case k == plc.ByteString:
		return plc.BytesValue(str), nil
	}
	return plc.Value{}, fmt.Errorf("store: stored value has unknown kind %d", kind)
}

// Float returns the float64 whose IEEE 754 bits are num.
func Float(num int64) float64 { return math.Float64frombits(uint64(num)) }

// Bits returns the IEEE 754 bits of f as Split lays them out.
func Bits(f float64) int64 { return int64(math.Float64bits(f)) }
