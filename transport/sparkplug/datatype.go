package sparkplug

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
)

// DataType is a Sparkplug B metric data type (the Metric.datatype field).
type DataType uint32

// The data types of Sparkplug B 3.0 that kiln's values map to, with the
// specification's numbers.
const (
	TypeUnknown  DataType = 0
	TypeInt8     DataType = 1
	TypeInt16    DataType = 2
	TypeInt32    DataType = 3
	TypeInt64    DataType = 4
	TypeUInt8    DataType = 5
	TypeUInt16   DataType = 6
	TypeUInt32   DataType = 7
	TypeUInt64   DataType = 8
	TypeFloat    DataType = 9
	TypeDouble   DataType = 10
	TypeBoolean  DataType = 11
	TypeString   DataType = 12
	TypeDateTime DataType = 13
	TypeText     DataType = 14
	TypeBytes    DataType = 17
)

var typeNames = map[DataType]string{
	TypeUnknown: "Unknown", TypeInt8: "Int8", TypeInt16: "Int16", TypeInt32: "Int32", TypeInt64: "Int64",
	TypeUInt8: "UInt8", TypeUInt16: "UInt16", TypeUInt32: "UInt32", TypeUInt64: "UInt64",
	TypeFloat: "Float", TypeDouble: "Double", TypeBoolean: "Boolean", TypeString: "String",
	TypeDateTime: "DateTime", TypeText: "Text", TypeBytes: "Bytes",
}

// String returns the specification's name of the type.
func (t DataType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("DataType(%d)", uint32(t))
}

// TypeOf returns the Sparkplug type of a kiln data type.
func TypeOf(t plc.DataType) DataType {
	switch t.Kind {
	case plc.Bool:
		return TypeBoolean
	case plc.SInt:
		return TypeInt8
	case plc.Int:
		return TypeInt16
	case plc.DInt:
		return TypeInt32
	case plc.LInt:
		return TypeInt64
	case plc.Byte, plc.USInt, plc.Char:
		return TypeUInt8
	case plc.Word, plc.UInt:
		return TypeUInt16
	case plc.DWord, plc.UDInt:
		return TypeUInt32
	case plc.LWord, plc.ULInt:
		return TypeUInt64
	case plc.Real:
		return TypeFloat
	case plc.LReal:
		return TypeDouble
	case plc.String:
		return TypeString
	case plc.DateTime:
		return TypeDateTime
	case plc.ByteString:
		return TypeBytes
	}
	return TypeUnknown
}

// ErrValue is matched by the errors of Value when a metric's value does
// not fit its declared type.
var ErrValue = errors.New("sparkplug: metric value does not match its type")

// SetValue puts v into m as the specification encodes type t: 8- to
// 32-bit integers in int_value (signed ones as two's complement of their
// width, as 3.0 requires), 64-bit ones in long_value, Float and Double in
// their fields, DateTime as milliseconds in long_value. An invalid v is
// written as is_null.
func SetValue(m *spb.Payload_Metric, t DataType, v plc.Value) {
	dt := uint32(t)
	m.Datatype = &dt
	if !v.IsValid() {
		null := true
		m.IsNull = &null
		m.Value = nil
		return
	}
	switch t {
	case TypeInt8, TypeInt16, TypeInt32:
		i, _ := v.Int()
		bits := map[DataType]uint{TypeInt8: 8, TypeInt16: 16, TypeInt32: 32}[t]
		m.Value = &spb.Payload_Metric_IntValue{IntValue: uint32(uint64(i) & (1<<bits - 1))}
	case TypeUInt8, TypeUInt16, TypeUInt32:
		u, _ := v.Uint()
		m.Value = &spb.Payload_Metric_IntValue{IntValue: uint32(u)}
	case TypeInt64:
		i, _ := v.Int()
		m.Value = &spb.Payload_Metric_LongValue{LongValue: uint64(i)}
	case TypeUInt64:
		u, _ := v.Uint()
		m.Value = &spb.Payload_Metric_LongValue{LongValue: u}
	case TypeFloat:
		m.Value = &spb.Payload_Metric_FloatValue{FloatValue: float32(v.Float())}
	case TypeDouble:
		m.Value = &spb.Payload_Metric_DoubleValue{DoubleValue: v.Float()}
	case TypeBoolean:
		m.Value = &spb.Payload_Metric_BooleanValue{BooleanValue: v.Bool()}
	case TypeString, TypeText:
		m.Value = &spb.Payload_Metric_StringValue{StringValue: v.Str()}
	case TypeDateTime:
		m.Value = &spb.Payload_Metric_LongValue{LongValue: uint64(v.Time().UnixMilli())}
	case TypeBytes:
		m.Value = &spb.Payload_Metric_BytesValue{BytesValue: []byte(v.Str())}
	}
}

// Value returns the value of m as a kiln value of type t (the tag's type).
// A null metric returns the zero Value and no error.
func Value(m *spb.Payload_Metric, t DataType) (plc.Value, error) {
	if m.GetIsNull() {
		return plc.Value{}, nil
	}
	bad := func() (plc.Value, error) {
		return plc.Value{}, fmt.Errorf("%w: %s metric %q holds %T", ErrValue, t, m.GetName(), m.GetValue())
	}
	switch t {
	case TypeInt8, TypeInt16, TypeInt32:
		x, ok := m.GetValue().(*spb.Payload_Metric_IntValue)
		if !ok {
			return bad()
		}
		switch t {
		case TypeInt8:
			return plc.IntValue(plc.SInt, int64(int8(x.IntValue))), nil
		case TypeInt16:
			return plc.IntValue(plc.Int, int64(int16(x.IntValue))), nil
		}
		return plc.IntValue(plc.DInt, int64(int32(x.IntValue))), nil
	case TypeUInt8, TypeUInt16, TypeUInt32:
		x, ok := m.GetValue().(*spb.Payload_Metric_IntValue)
		if !ok {
			return bad()
		}
		switch t {
		case TypeUInt8:
			if x.IntValue > math.MaxUint8 {
				return bad()
			}
			return plc.UintValue(plc.USInt, uint64(x.IntValue)), nil
		case TypeUInt16:
			if x.IntValue > math.MaxUint16 {
				return bad()
			}
			return plc.UintValue(plc.UInt, uint64(x.IntValue)), nil
		}
		return plc.UintValue(plc.UDInt, uint64(x.IntValue)), nil
	case TypeInt64, TypeUInt64, TypeDateTime:
		x, ok := m.GetValue().(*spb.Payload_Metric_LongValue)
		if !ok {
			return bad()
		}
		switch t {
		case TypeInt64:
			return plc.IntValue(plc.LInt, int64(x.LongValue)), nil
		case TypeUInt64:
			return plc.UintValue(plc.ULInt, x.LongValue), nil
		}
		return plc.TimeValue(time.UnixMilli(int64(x.LongValue))), nil
	case TypeFloat:
		x, ok := m.GetValue().(*spb.Payload_Metric_FloatValue)
		if !ok {
			return bad()
		}
		return plc.FloatValue(plc.Real, float64(x.FloatValue)), nil
	case TypeDouble:
		x, ok := m.GetValue().(*spb.Payload_Metric_DoubleValue)
		if !ok {
			return bad()
		}
		return plc.FloatValue(plc.LReal, x.DoubleValue), nil
	case TypeBoolean:
		x, ok := m.GetValue().(*spb.Payload_Metric_BooleanValue)
		if !ok {
			return bad()
		}
		return plc.BoolValue(x.BooleanValue), nil
	case TypeString, TypeText:
		x, ok := m.GetValue().(*spb.Payload_Metric_StringValue)
		if !ok {
			return bad()
		}
		return plc.StringValue(x.StringValue), nil
	case TypeBytes:
		x, ok := m.GetValue().(*spb.Payload_Metric_BytesValue)
		if !ok {
			return bad()
		}
		return plc.BytesValue(x.BytesValue), nil
	}
	return plc.Value{}, fmt.Errorf("%w: metric %q has unsupported type %s", ErrValue, m.GetName(), t)
}
