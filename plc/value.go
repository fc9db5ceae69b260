package plc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Value is a typed value of one of the elementary kinds. Numbers and BOOL
// are held inline, so making, copying and comparing them never allocates;
// only STRING and BYTESTRING carry a Go string. The zero Value is invalid
// (Kind() == KindInvalid) and means "no value".
type Value struct {
	kind Kind
	// num holds BOOL as 0/1, signed integers as int64 bits, unsigned ones
	// as uint64, floats as float64 bits, DATETIME as Unix nanoseconds.
	num uint64
	str string
}

// BoolValue returns a BOOL value.
func BoolValue(b bool) Value {
	if b {
		return Value{kind: Bool, num: 1}
	}
	return Value{kind: Bool}
}

// IntValue returns a value of the signed integer kind k (SINT, INT, DINT,
// LINT). It does not check the range; use Convert for checked conversion.
func IntValue(k Kind, v int64) Value { return Value{kind: k, num: uint64(v)} }

// UintValue returns a value of the unsigned kind k (BYTE, CHAR, USINT,
// WORD, UINT, DWORD, UDINT, LWORD, ULINT). It does not check the range.
func UintValue(k Kind, v uint64) Value { return Value{kind: k, num: v} }

// FloatValue returns a REAL or LREAL value. A REAL is rounded to float32
// precision.
func FloatValue(k Kind, v float64) Value {
	if k == Real {
		v = float64(float32(v))
	}
	return Value{kind: k, num: math.Float64bits(v)}
}

// StringValue returns a STRING value.
func StringValue(s string) Value { return Value{kind: String, str: s} }

// BytesValue returns a BYTESTRING value.
func BytesValue(b []byte) Value { return Value{kind: ByteString, str: string(b)} }

// TimeValue returns a DATETIME value.
func TimeValue(t time.Time) Value { return Value{kind: DateTime, num: uint64(t.UnixNano())} }

// Kind returns the value's kind; KindInvalid for the zero Value.
func (v Value) Kind() Kind { return v.kind }

// IsValid reports whether v holds a value.
func (v Value) IsValid() bool { return v.kind != KindInvalid }

// Bool returns the value as a boolean: a BOOL's value, or whether a number
// is non-zero.
func (v Value) Bool() bool {
	switch {
	case v.kind == Bool:
		return v.num != 0
	case v.kind.IsFloat():
		return math.Float64frombits(v.num) != 0
	case v.kind.IsInteger():
		return v.num != 0
	}
	return false
}

// Int returns the value as an int64 and whether that is exact (false for
// fractions, values out of int64 range and non-numbers).
func (v Value) Int() (int64, bool) {
	switch {
	case v.kind == Bool || v.kind.IsSigned() || v.kind == DateTime:
		return int64(v.num), true
	case v.kind.IsUnsigned():
		return int64(v.num), v.num <= math.MaxInt64
	case v.kind.IsFloat():
		f := math.Float64frombits(v.num)
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return int64(f), false
		}
		return int64(f), true
	}
	return 0, false
}

// Uint returns the value as a uint64 and whether that is exact.
func (v Value) Uint() (uint64, bool) {
	switch {
	case v.kind == Bool || v.kind.IsUnsigned():
		return v.num, true
	case v.kind.IsSigned():
		return v.num, int64(v.num) >= 0
	case v.kind.IsFloat():
		f := math.Float64frombits(v.num)
		if f != math.Trunc(f) || f < 0 || f >= math.MaxUint64 {
			return uint64(max(f, 0)), false
		}
		return uint64(f), true
	}
	return 0, false
}

// Float returns the value as a float64: numbers converted, BOOL as 0 or 1,
// NaN for non-numbers.
func (v Value) Float() float64 {
	switch {
	case v.kind.IsFloat():
		return math.Float64frombits(v.num)
	case v.kind.IsSigned():
		return float64(int64(v.num))
	case v.kind == Bool || v.kind.IsUnsigned():
		return float64(v.num)
	}
	return math.NaN()
}

// Str returns a STRING or BYTESTRING value's contents, and the formatted
// value for other kinds.
func (v Value) Str() string {
	if v.kind == String || v.kind == ByteString {
		return v.str
	}
	return v.String()
}

// Time returns a DATETIME value; the zero time for other kinds.
func (v Value) Time() time.Time {
	if v.kind != DateTime {
		return time.Time{}
	}
	return time.Unix(0, int64(v.num)).UTC()
}

// String formats the value for people and logs: true/false, integers in
// decimal, floats in the shortest form that round-trips, strings as is.
func (v Value) String() string {
	switch {
	case v.kind == KindInvalid:
		return "<none>"
	case v.kind == Bool:
		return strconv.FormatBool(v.num != 0)
	case v.kind.IsSigned():
		return strconv.FormatInt(int64(v.num), 10)
	case v.kind.IsUnsigned():
		return strconv.FormatUint(v.num, 10)
	case v.kind == Real:
		return strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 32)
	case v.kind == LReal:
		return strconv.FormatFloat(math.Float64frombits(v.num), 'g', -1, 64)
	case v.kind == DateTime:
		return v.Time().Format(time.RFC3339Nano)
	}
	return v.str
}

// Equal reports whether v and w have the same kind and the same value.
// Floats compare by value, so NaN is never equal and 0 equals -0.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	if v.kind.IsFloat() {
		return v.Float() == w.Float()
	}
	return v.num == w.num && v.str == w.str
}

// Distance returns |v - w| for numeric values, and for other kinds 0 when
// they are equal and +Inf when not, so a deadband test "Distance > band"
// reports any change of a BOOL or STRING.
func (v Value) Distance(w Value) float64 {
	if v.kind.IsNumeric() && w.kind.IsNumeric() {
		if v.kind.IsSigned() && w.kind.IsSigned() {
			a, b := int64(v.num), int64(w.num)
			if a > b {
				return float64(uint64(a - b))
			}
			return float64(uint64(b - a))
		}
		if v.kind.IsUnsigned() && w.kind.IsUnsigned() {
			if v.num > w.num {
				return float64(v.num - w.num)
			}
			return float64(w.num - v.num)
		}
		d := math.Abs(v.Float() - w.Float())
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		return d
	}
	if v.Equal(w) {
		return 0
	}
	return math.Inf(1)
}

// ConversionError reports a value that cannot be converted to a type
// without loss.
type ConversionError struct {
	Value  Value
	To     DataType
	Reason string
}

// Error names the value, the target type and why it does not convert.
func (e *ConversionError) Error() string {
	return fmt.Sprintf("plc: cannot convert %s %s to %s: %s", e.Value.kind, e.Value, e.To, e.Reason)
}

// intRange returns the bounds of an integer kind.
func intRange(k Kind) (lo int64, hi uint64) {
	bits := k.Bits()
	if k.IsSigned() {
		return -1 << (bits - 1), 1<<(bits-1) - 1
	}
	if bits == 64 {
		return 0, math.MaxUint64
	}
	return 0, 1<<bits - 1
}

// Convert returns v as a value of type t, or a *ConversionError when that
// would lose information: an integer out of range, a fraction into an
// integer, a string longer than the STRING's capacity, text into a number.
// Floats into REAL are rounded to float32 precision (a REAL cannot hold
// 0.1 exactly either); values beyond float32's range are refused.
func Convert(v Value, t DataType) (Value, error) {
	fail := func(reason string) (Value, error) {
		return Value{}, &ConversionError{Value: v, To: t, Reason: reason}
	}
	if !v.IsValid() {
		return fail("no value")
	}
	if !t.Valid() {
		return fail("invalid target type")
	}
	k := t.Kind
	switch {
	case k == Bool:
		switch {
		case v.kind == Bool:
			return v, nil
		case v.kind.IsNumeric():
			f := v.Float()
			if f == 0 || f == 1 {
				return BoolValue(f == 1), nil
			}
			return fail("only 0 and 1 convert to BOOL")
		}
	case k.IsInteger():
		if v.kind == Bool {
			return Value{kind: k, num: v.num}, nil
		}
		if !v.kind.IsNumeric() {
			break
		}
		lo, hi := intRange(k)
		if v.kind.IsFloat() {
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
				return fail("not a whole number")
			}
			if f < float64(lo) || f > float64(hi) || (hi == math.MaxUint64 && f >= 1<<64) || (k.IsSigned() && hi == math.MaxInt64 && f >= 1<<63) {
				return fail("out of range")
			}
			if k.IsSigned() {
				return IntValue(k, int64(f)), nil
			}
			return UintValue(k, uint64(f)), nil
		}
		if v.kind.IsSigned() {
			i := int64(v.num)
			if i < lo || (i > 0 && uint64(i) > hi) {
				return fail("out of range")
			}
			return Value{kind: k, num: uint64(i)}, nil
		}
		if v.num > hi {
			return fail("out of range")
		}
		return Value{kind: k, num: v.num}, nil
	case k.IsFloat():
		if v.kind == Bool || v.kind.IsNumeric() {
			f := v.Float()
			if k == Real && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
				return fail("out of REAL range")
			}
			if v.kind.IsInteger() && !exactInFloat(v, k) {
				return fail("integer too large to be exact in " + k.String())
			}
			return FloatValue(k, f), nil
		}
	case k == String:
		if v.kind == String || v.kind == ByteString {
			if len(v.str) > t.Len {
				return fail(fmt.Sprintf("%d bytes exceed STRING[%d]", len(v.str), t.Len))
			}
			return StringValue(v.str), nil
		}
	case k == ByteString:
		if v.kind == String || v.kind == ByteString {
			return Value{kind: ByteString, str: v.str}, nil
		}
	case k == DateTime:
		if v.kind == DateTime {
			return v, nil
		}
	}
	return fail("incompatible kinds")
}

// exactInFloat reports whether the integer value v is exactly
// representable in the float kind k. It decides on the integer itself:
// converting to float64 first would round 2^53+1 to 2^53 and hide the
// loss.
func exactInFloat(v Value, k Kind) bool {
	mant := uint(53)
	if k == Real {
		mant = 24
	}
	var m uint64
	if v.kind.IsSigned() {
		i := int64(v.num)
		if i < 0 {
			m = uint64(-(i + 1)) + 1 // |i| without overflow at MinInt64
		} else {
			m = uint64(i)
		}
	} else {
		m = v.num
	}
	if m <= 1<<mant {
		return true
	}
	// Larger integers are exact when their significant bits fit the
	// mantissa, e.g. 2^60.
	return uint(bits.Len64(m)-bits.TrailingZeros64(m)) <= mant
}

// DateTime values hold Unix nanoseconds in 64 bits: these are the bounds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// ParseValue parses text as a value of type t, as an engineer types it:
// true/false/1/0 for BOOL, decimal or 0x-prefixed hex integers (a leading
// zero does not mean octal; "5.0" is accepted for an integer, "5.5" is
// not), floats, strings as is, RFC 3339 times. Spaces around numbers,
// booleans and times are ignored. The result is range-checked like Convert.
func ParseValue(s string, t DataType) (Value, error) {
	var v Value
	bad := func(reason string) (Value, error) {
		return Value{}, &ConversionError{Value: StringValue(s), To: t, Reason: reason}
	}
	switch k := t.Kind; {
	case k == Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return bad("not a boolean")
		}
		v = BoolValue(b)
	case k.IsInteger():
		var reason string
		if v, reason = parseInteger(strings.TrimSpace(s), k.IsSigned()); reason != "" {
			return bad(reason)
		}
	case k.IsFloat():
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return bad("out of range")
			}
			return bad("not a number")
		}
		v = FloatValue(LReal, f)
	case k == DateTime:
		tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
		if err != nil {
			return bad("not an RFC 3339 time")
		}
		if tm.Before(minTime) || tm.After(maxTime) {
			return bad("time out of range (years 1678 to 2262)")
		}
		v = TimeValue(tm)
	default:
		v = StringValue(s)
	}
	out, err := Convert(v, t)
	var ce *ConversionError
	if errors.As(err, &ce) {
		return Value{}, &ConversionError{Value: StringValue(s), To: t, Reason: ce.Reason} // name the text given
	}
	return out, err
}

// parseInteger parses decimal or 0x-hex text; failing that, a float that
// Convert will then accept only when it is a whole number. A non-empty
// reason says why the text is refused.
func parseInteger(s string, signed bool) (Value, string) {
	if strings.ContainsRune(s, '_') {
		return Value{}, "not an integer"
	}
	base := 10
	digits := s
	neg := false
	if strings.HasPrefix(digits, "-") {
		neg, digits = true, digits[1:]
	} else if strings.HasPrefix(digits, "+") {
		digits = digits[1:]
	}
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		base, digits = 16, digits[2:]
	}
	if digits != "" && digits[0] != '+' && digits[0] != '-' {
		u, err := strconv.ParseUint(digits, base, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return Value{}, "out of range"
		case err != nil:
		case !neg && signed && u <= math.MaxInt64:
			return IntValue(LInt, int64(u)), ""
		case !neg:
			return UintValue(ULInt, u), "" // Convert checks the range
		case u == 0:
			return IntValue(LInt, 0), ""
		case !signed || u > 1<<63:
			return Value{}, "out of range"
		default:
			return IntValue(LInt, int64(-u)), ""
		}
	}
	if base == 16 {
		return Value{}, "not an integer"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, "not an integer"
	}
	return FloatValue(LReal, f), ""
}

// ParseJSONValue decodes one JSON value as a value of type t, strictly
// typed: true/false for BOOL and for BOOL only, a number for the numeric
// kinds (64-bit integers exactly; a quoted number is accepted too, as
// JavaScript clients send them), a string for STRING and RFC 3339
// DATETIME, base64 text for BYTESTRING. Anything else (true for a REAL, 1
// for a BOOL, 5 for a STRING) is a *ConversionError saying what was given
// for what. The result is range-checked like Convert. Every API that
// takes a tag's value as JSON (the gateway's, the console's, the command
// topic's) decodes it with this function.
func ParseJSONValue(data []byte, t DataType) (Value, error) {
	bad := func(reason string) (Value, error) {
		return Value{}, &ConversionError{Value: StringValue(string(data)), To: t, Reason: reason}
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return bad("not JSON")
	}
	if dec.More() {
		return bad("more than one JSON value")
	}
	switch x := raw.(type) {
	case bool:
		if t.Kind != Bool {
			return bad("a boolean for a " + t.Kind.String())
		}
		return BoolValue(x), nil
	case json.Number:
		if t.Kind == Bool || t.Kind == String || t.Kind == ByteString || t.Kind == DateTime {
			return bad("a number for a " + t.Kind.String())
		}
		return ParseValue(string(x), t)
	case string:
		switch {
		case t.Kind == ByteString:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return bad("not base64")
			}
			return BytesValue(b), nil
		case t.Kind == Bool:
			return bad("a string for a BOOL")
		}
		return ParseValue(x, t)
	case nil:
		return bad("null")
	}
	return bad("not a JSON scalar")
}

// MarshalJSON encodes the value as JSON: BOOL as true/false, integers as
// exact JSON numbers (64-bit included), floats as numbers (NaN and ±Inf,
// which JSON lacks, as null), strings as strings, BYTESTRING as base64
// text, DATETIME as RFC 3339 text, no value as null.
func (v Value) MarshalJSON() ([]byte, error) {
	switch {
	case v.kind == KindInvalid:
		return []byte("null"), nil
	case v.kind == Bool, v.kind.IsInteger():
		return []byte(v.String()), nil
	case v.kind.IsFloat():
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return []byte("null"), nil
		}
		return []byte(v.String()), nil
	case v.kind == ByteString:
		return json.Marshal([]byte(v.str)) // base64, as encoding/json does for bytes
	}
	return json.Marshal(v.String())
}
