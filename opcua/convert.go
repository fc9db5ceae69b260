package opcua

import (
	"fmt"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/plc"
)

// DataTypeID returns the numeric id (in namespace 0) of the OPC UA
// built-in data type that holds values of kind k: BOOL → Boolean (1),
// DINT → Int32 (6), LREAL → Double (11) and so on. It returns 0 for an
// invalid kind.
func DataTypeID(k plc.Kind) uint32 {
	switch k {
	case plc.Bool:
		return id.Boolean
	case plc.SInt:
		return id.SByte
	case plc.Byte, plc.Char, plc.USInt:
		return id.Byte
	case plc.Int:
		return id.Int16
	case plc.Word, plc.UInt:
		return id.UInt16
	case plc.DInt:
		return id.Int32
	case plc.DWord, plc.UDInt:
		return id.UInt32
	case plc.LInt:
		return id.Int64
	case plc.LWord, plc.ULInt:
		return id.UInt64
	case plc.Real:
		return id.Float
	case plc.LReal:
		return id.Double
	case plc.String:
		return id.String
	case plc.DateTime:
		return id.DateTime
	case plc.ByteString:
		return id.ByteString
	}
	return 0
}

// DataTypeOf returns the plc data type for an OPC UA built-in data type
// id (namespace 0): Int16 → INT, Double → LREAL, String → STRING. ok is
// false for types kiln does not map (structures, arrays, enumerations).
func DataTypeOf(dataTypeID uint32) (t plc.DataType, ok bool) {
	switch dataTypeID {
	case id.Boolean:
		return plc.TypeBool, true
	case id.SByte:
		return plc.DataType{Kind: plc.SInt}, true
	case id.Byte:
		return plc.DataType{Kind: plc.USInt}, true
	case id.Int16:
		return plc.TypeInt, true
	case id.UInt16:
		return plc.DataType{Kind: plc.UInt}, true
	case id.Int32:
		return plc.TypeDInt, true
	case id.UInt32:
		return plc.DataType{Kind: plc.UDInt}, true
	case id.Int64:
		return plc.TypeLInt, true
	case id.UInt64:
		return plc.DataType{Kind: plc.ULInt}, true
	case id.Float:
		return plc.TypeReal, true
	case id.Double:
		return plc.TypeLReal, true
	case id.String:
		return plc.StringType(plc.DefaultStringLen), true
	case id.DateTime:
		return plc.DataType{Kind: plc.DateTime}, true
	case id.ByteString:
		return plc.DataType{Kind: plc.ByteString}, true
	}
	return plc.DataType{}, false
}

// Variant returns v as an OPC UA variant of the built-in type that
// DataTypeID names for v's kind.
func Variant(v plc.Value) (*ua.Variant, error) {
	var x any
	k := v.Kind()
	switch {
	case k == plc.Bool:
		x = v.Bool()
	case k.IsSigned():
		i, _ := v.Int()
		switch k {
		case plc.SInt:
			x = int8(i)
		case plc.Int:
			x = int16(i)
		case plc.DInt:
			x = int32(i)
		default:
			x = i
		}
	case k.IsUnsigned():
		u, _ := v.Uint()
		switch k.Bits() {
		case 8:
			x = uint8(u)
		case 16:
			x = uint16(u)
		case 32:
			x = uint32(u)
		default:
			x = u
		}
	case k == plc.Real:
		x = float32(v.Float())
	case k == plc.LReal:
		x = v.Float()
	case k == plc.String:
		x = v.Str()
	case k == plc.ByteString:
		x = []byte(v.Str())
	case k == plc.DateTime:
		x = v.Time()
	default:
		return nil, fmt.Errorf("opcua: no OPC UA type for a value of kind %s", k)
	}
	return ua.NewVariant(x)
}

// NaturalValue returns the plc value a scalar OPC UA variant holds, in
// the kind closest to its built-in type (Int16 → INT, Double → LREAL).
func NaturalValue(v *ua.Variant) (plc.Value, error) {
	if v == nil {
		return plc.Value{}, fmt.Errorf("opcua: no value")
	}
	switch x := v.Value().(type) {
	case bool:
		return plc.BoolValue(x), nil
	case int8:
		return plc.IntValue(plc.SInt, int64(x)), nil
	case uint8:
		return plc.UintValue(plc.USInt, uint64(x)), nil
	case int16:
		return plc.IntValue(plc.Int, int64(x)), nil
	case uint16:
		return plc.UintValue(plc.UInt, uint64(x)), nil
	case int32:
		return plc.IntValue(plc.DInt, int64(x)), nil
	case uint32:
		return plc.UintValue(plc.UDInt, uint64(x)), nil
	case int64:
		return plc.IntValue(plc.LInt, x), nil
	case uint64:
		return plc.UintValue(plc.ULInt, x), nil
	case float32:
		return plc.FloatValue(plc.Real, float64(x)), nil
	case float64:
		return plc.FloatValue(plc.LReal, x), nil
	case string:
		return plc.StringValue(x), nil
	case []byte:
		return plc.BytesValue(x), nil
	case time.Time:
		return plc.TimeValue(x), nil
	case nil:
		return plc.Value{}, fmt.Errorf("opcua: empty variant")
	default:
		return plc.Value{}, fmt.Errorf("opcua: unsupported variant type %T", x)
	}
}

// ValueOf returns the value of a variant as type t, converted without
// loss (see plc.Convert), e.g. a Double variant for a REAL tag.
func ValueOf(v *ua.Variant, t plc.DataType) (plc.Value, error) {
	n, err := NaturalValue(v)
	if err != nil {
		return plc.Value{}, err
	}
	if n.Kind() == t.Kind && t.Kind != plc.String {
		return n, nil
	}
	return plc.Convert(n, t)
}
