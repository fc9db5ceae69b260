package plc

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValueAccessors(t *testing.T) {
	tests := []struct {
		name   string
		v      Value
		str    string
		f      float64
		i      int64
		iExact bool
		u      uint64
		uExact bool
		b      bool
	}{
		{"bool true", BoolValue(true), "true", 1, 1, true, 1, true, true},
		{"bool false", BoolValue(false), "false", 0, 0, true, 0, true, false},
		{"int negative", IntValue(Int, -5), "-5", -5, -5, true, uint64(1<<64 - 5), false, true},
		{"dint zero", IntValue(DInt, 0), "0", 0, 0, true, 0, true, false},
		{"word", UintValue(Word, 65535), "65535", 65535, 65535, true, 65535, true, true},
		{"ulint max", UintValue(ULInt, math.MaxUint64), "18446744073709551615", math.MaxUint64, -1, false, math.MaxUint64, true, true},
		{"real rounds", FloatValue(Real, 0.1), "0.1", float64(float32(0.1)), 0, false, 0, false, true},
		{"lreal whole", FloatValue(LReal, 42), "42", 42, 42, true, 42, true, true},
		{"lreal negative fraction", FloatValue(LReal, -1.5), "-1.5", -1.5, -1, false, 0, false, true},
		{"lreal huge", FloatValue(LReal, 1e300), "1e+300", 1e300, math.MinInt64, false, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
			if got := tt.v.Float(); got != tt.f {
				t.Errorf("Float = %v, want %v", got, tt.f)
			}
			if i, ok := tt.v.Int(); ok != tt.iExact || (ok && i != tt.i) {
				t.Errorf("Int = %d, %v; want %d, %v", i, ok, tt.i, tt.iExact)
			}
			if u, ok := tt.v.Uint(); ok != tt.uExact || (ok && u != tt.u) {
				t.Errorf("Uint = %d, %v; want %d, %v", u, ok, tt.u, tt.uExact)
			}
			if got := tt.v.Bool(); got != tt.b {
				t.Errorf("Bool = %v, want %v", got, tt.b)
			}
		})
	}
}

func TestValueNonNumbers(t *testing.T) {
	var none Value
	if none.IsValid() || none.Kind() != KindInvalid || none.String() != "<none>" {
		t.Errorf("zero Value: valid=%v kind=%v string=%q", none.IsValid(), none.Kind(), none.String())
	}
	s := StringValue("hot")
	if s.Str() != "hot" || !math.IsNaN(s.Float()) || s.Bool() {
		t.Errorf("StringValue: Str=%q Float=%v Bool=%v", s.Str(), s.Float(), s.Bool())
	}
	if _, ok := s.Int(); ok {
		t.Error("StringValue.Int exact")
	}
	if _, ok := s.Uint(); ok {
		t.Error("StringValue.Uint exact")
	}
	tm := time.Date(2026, 11, 25, 22, 0, 0, 5, time.UTC)
	d := TimeValue(tm)
	if !d.Time().Equal(tm) || d.String() != "2026-11-25T22:00:00.000000005Z" {
		t.Errorf("TimeValue: %v %q", d.Time(), d.String())
	}
	if !IntValue(Int, 3).Time().IsZero() {
		t.Error("Time of an INT is not zero")
	}
	if got := UintValue(Word, 7).Str(); got != "7" {
		t.Errorf("Str of WORD = %q", got)
	}
	if got := BytesValue([]byte{1, 2}).Str(); got != "\x01\x02" {
		t.Errorf("Str of BYTESTRING = %q", got)
	}
}

func TestValueEqual(t *testing.T) {
	nan := FloatValue(LReal, math.NaN())
	tests := []struct {
		a, b Value
		want bool
	}{
		{IntValue(Int, 3), IntValue(Int, 3), true},
		{IntValue(Int, 3), IntValue(DInt, 3), false},
		{FloatValue(LReal, 0), FloatValue(LReal, math.Copysign(0, -1)), true},
		{nan, nan, false},
		{StringValue("a"), StringValue("a"), true},
		{StringValue("a"), BytesValue([]byte("a")), false},
		{BoolValue(true), BoolValue(true), true},
		{Value{}, Value{}, true},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("%v(%v).Equal(%v(%v)) = %v", tt.a.Kind(), tt.a, tt.b.Kind(), tt.b, got)
		}
	}
}

func TestValueDistance(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		a, b Value
		want float64
	}{
		{"ints", IntValue(Int, -3), IntValue(Int, 4), 7},
		{"int extremes", IntValue(LInt, math.MinInt64), IntValue(LInt, math.MaxInt64), float64(uint64(math.MaxUint64))},
		{"uints", UintValue(Word, 10), UintValue(Word, 3), 7},
		{"mixed", IntValue(Int, -1), UintValue(Word, 1), 2},
		{"floats", FloatValue(LReal, 1.5), FloatValue(LReal, 1.25), 0.25},
		{"nan", FloatValue(LReal, math.NaN()), FloatValue(LReal, 1), inf},
		{"bool same", BoolValue(true), BoolValue(true), 0},
		{"bool change", BoolValue(true), BoolValue(false), inf},
		{"string change", StringValue("a"), StringValue("b"), inf},
		{"string same", StringValue("a"), StringValue("a"), 0},
		{"none vs number", Value{}, IntValue(Int, 1), inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Distance(tt.b); got != tt.want {
				t.Errorf("Distance = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name   string
		v      Value
		to     DataType
		want   Value
		reason string // non-empty: conversion must fail with this reason
	}{
		{"int to dint", IntValue(Int, -7), TypeDInt, IntValue(DInt, -7), ""},
		{"dint to int in range", IntValue(DInt, 32767), TypeInt, IntValue(Int, 32767), ""},
		{"dint to int overflow", IntValue(DInt, 32768), TypeInt, Value{}, "out of range"},
		{"int to int underflow", IntValue(LInt, -32769), TypeInt, Value{}, "out of range"},
		{"negative to word", IntValue(Int, -1), TypeWord, Value{}, "out of range"},
		{"uint to sint", UintValue(Byte, 128), DataType{Kind: SInt}, Value{}, "out of range"},
		{"ulint max to lint", UintValue(ULInt, math.MaxUint64), TypeLInt, Value{}, "out of range"},
		{"byte to word", UintValue(Byte, 255), TypeWord, UintValue(Word, 255), ""},
		{"bool to int", BoolValue(true), TypeInt, IntValue(Int, 1), ""},
		{"whole float to int", FloatValue(LReal, 42), TypeInt, IntValue(Int, 42), ""},
		{"fraction to int", FloatValue(LReal, 1.5), TypeInt, Value{}, "not a whole number"},
		{"nan to int", FloatValue(LReal, math.NaN()), TypeDInt, Value{}, "not a whole number"},
		{"2^63 to lint", FloatValue(LReal, 1<<63), TypeLInt, Value{}, "out of range"},
		{"-2^63 to lint", FloatValue(LReal, -(1 << 63)), TypeLInt, IntValue(LInt, math.MinInt64), ""},
		{"2^64 to ulint", FloatValue(LReal, 1<<64), DataType{Kind: ULInt}, Value{}, "out of range"},
		{"negative float to uint", FloatValue(LReal, -1), DataType{Kind: UInt}, Value{}, "out of range"},
		{"int to bool 1", IntValue(Int, 1), TypeBool, BoolValue(true), ""},
		{"int to bool 2", IntValue(Int, 2), TypeBool, Value{}, "only 0 and 1 convert to BOOL"},
		{"int to real", IntValue(DInt, 1<<24), TypeReal, FloatValue(Real, 1<<24), ""},
		{"int to real inexact", IntValue(DInt, 1<<24+1), TypeReal, Value{}, "integer too large to be exact in REAL"},
		{"2^53 to lreal", IntValue(LInt, 1<<53), TypeLReal, FloatValue(LReal, 1<<53), ""},
		{"2^53+1 to lreal", IntValue(LInt, 1<<53+1), TypeLReal, Value{}, "integer too large to be exact in LREAL"},
		{"2^60 to lreal exact", IntValue(LInt, 1<<60), TypeLReal, FloatValue(LReal, 1<<60), ""},
		{"min int64 to lreal", IntValue(LInt, math.MinInt64), TypeLReal, FloatValue(LReal, -(1 << 63)), ""},
		{"ulint max to lreal", UintValue(ULInt, math.MaxUint64), TypeLReal, Value{}, "integer too large to be exact in LREAL"},
		{"lreal to real rounds", FloatValue(LReal, 0.1), TypeReal, FloatValue(Real, 0.1), ""},
		{"lreal beyond real", FloatValue(LReal, 1e39), TypeReal, Value{}, "out of REAL range"},
		{"bool to lreal", BoolValue(true), TypeLReal, FloatValue(LReal, 1), ""},
		{"string fits", StringValue("abc"), StringType(3), StringValue("abc"), ""},
		{"string too long", StringValue("abcd"), StringType(3), Value{}, "4 bytes exceed STRING[3]"},
		{"bytes to string", BytesValue([]byte("ab")), StringType(5), StringValue("ab"), ""},
		{"string to bytes", StringValue("ab"), DataType{Kind: ByteString}, BytesValue([]byte("ab")), ""},
		{"string to int", StringValue("5"), TypeInt, Value{}, "incompatible kinds"},
		{"int to string", IntValue(Int, 5), StringType(10), Value{}, "incompatible kinds"},
		{"time to time", TimeValue(time.Unix(5, 0)), DataType{Kind: DateTime}, TimeValue(time.Unix(5, 0)), ""},
		{"int to time", IntValue(LInt, 5), DataType{Kind: DateTime}, Value{}, "incompatible kinds"},
		{"no value", Value{}, TypeInt, Value{}, "no value"},
		{"invalid type", IntValue(Int, 1), DataType{}, Value{}, "invalid target type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Convert(tt.v, tt.to)
			if tt.reason != "" {
				var ce *ConversionError
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("Convert(%v %v, %v) = %v, %v; want reason %q", tt.v.Kind(), tt.v, tt.to, got, err, tt.reason)
				}
				if ce.To != tt.to {
					t.Errorf("ConversionError.To = %v, want %v", ce.To, tt.to)
				}
				return
			}
			if err != nil {
				t.Fatalf("Convert(%v %v, %v): %v", tt.v.Kind(), tt.v, tt.to, err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("Convert = %v %v, want %v %v", got.Kind(), got, tt.want.Kind(), tt.want)
			}
		})
	}
}

func TestConversionErrorMessage(t *testing.T) {
	_, err := Convert(IntValue(DInt, 40000), TypeInt)
	if got, want := err.Error(), "plc: cannot convert DINT 40000 to INT: out of range"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in     string
		to     DataType
		want   Value
		reason string
	}{
		{"true", TypeBool, BoolValue(true), ""},
		{" 0 ", TypeBool, BoolValue(false), ""},
		{"yes", TypeBool, Value{}, "not a boolean"},
		{"-32768", TypeInt, IntValue(Int, -32768), ""},
		{"32768", TypeInt, Value{}, "out of range"},
		{"010", TypeInt, IntValue(Int, 10), ""}, // a leading zero is not octal
		{"0x7FFF", TypeInt, IntValue(Int, 0x7fff), ""},
		{"0xFFFF", TypeWord, UintValue(Word, 0xffff), ""},
		{"0x1p3", TypeInt, Value{}, "not an integer"},
		{"+12", TypeDInt, IntValue(DInt, 12), ""},
		{"5.0", TypeInt, IntValue(Int, 5), ""},
		{"5.5", TypeInt, Value{}, "not a whole number"},
		{"1e3", TypeDInt, IntValue(DInt, 1000), ""},
		{"-9223372036854775808", TypeLInt, IntValue(LInt, math.MinInt64), ""},
		{"9223372036854775808", TypeLInt, Value{}, "out of range"},
		{"-9223372036854775809", TypeLInt, Value{}, "out of range"},
		{"18446744073709551615", DataType{Kind: ULInt}, UintValue(ULInt, math.MaxUint64), ""},
		{"-1", TypeWord, Value{}, "out of range"},
		{"1_000", TypeInt, Value{}, "not an integer"},
		{"NaN", TypeInt, Value{}, "not an integer"},
		{"", TypeInt, Value{}, "not an integer"},
		{"--5", TypeInt, Value{}, "not an integer"},
		{"+-5", TypeInt, Value{}, "not an integer"},
		{"abc", TypeInt, Value{}, "not an integer"},
		{"21.5", TypeReal, FloatValue(Real, 21.5), ""},
		{" -0.25 ", TypeLReal, FloatValue(LReal, -0.25), ""},
		{"1e39", TypeReal, Value{}, "out of REAL range"},
		{"1e400", TypeLReal, Value{}, "out of range"},
		{"warm", TypeLReal, Value{}, "not a number"},
		{" padded ", StringType(10), StringValue(" padded "), ""},
		{"too long", StringType(3), Value{}, "8 bytes exceed STRING[3]"},
		{"2026-11-25T22:00:00Z", DataType{Kind: DateTime}, TimeValue(time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)), ""},
		{"2300-01-01T00:00:00Z", DataType{Kind: DateTime}, Value{}, "time out of range (years 1678 to 2262)"},
		{"yesterday", DataType{Kind: DateTime}, Value{}, "not an RFC 3339 time"},
		{"x", DataType{}, Value{}, "invalid target type"},
	}
	for _, tt := range tests {
		t.Run(tt.to.Kind.String()+"/"+tt.in, func(t *testing.T) {
			got, err := ParseValue(tt.in, tt.to)
			if tt.reason != "" {
				var ce *ConversionError
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("ParseValue(%q, %v) = %v, %v; want reason %q", tt.in, tt.to, got, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseValue(%q, %v): %v", tt.in, tt.to, err)
			}
			if got.Kind() != tt.to.Kind || !got.Equal(tt.want) {
				t.Fatalf("ParseValue(%q, %v) = %v %v, want %v", tt.in, tt.to, got.Kind(), got, tt.want)
			}
		})
	}
}

func TestParseJSONValue(t *testing.T) {
	tests := []struct {
		in     string
		to     DataType
		want   Value
		reason string
	}{
		{"true", TypeBool, BoolValue(true), ""},
		{"false", TypeBool, BoolValue(false), ""},
		{"1", TypeBool, Value{}, "a number for a BOOL"},
		{`"true"`, TypeBool, Value{}, "a string for a BOOL"},
		{"9007199254740993", TypeLInt, IntValue(LInt, 9007199254740993), ""}, // beyond float64's exact range
		{`"42"`, TypeInt, IntValue(Int, 42), ""},
		{"42.5", TypeInt, Value{}, "not a whole number"},
		{"21.5", TypeReal, FloatValue(Real, 21.5), ""},
		{"true", TypeLReal, Value{}, "a boolean for a LREAL"},
		{"true", TypeReal, Value{}, "a boolean for a REAL"},
		{"false", TypeInt, Value{}, "a boolean for a INT"},
		{"true", StringType(10), Value{}, "a boolean for a STRING"},
		{`"21.5"`, TypeReal, FloatValue(Real, 21.5), ""},
		{`"abc"`, TypeReal, Value{}, "not a number"},
		{`"hello"`, StringType(10), StringValue("hello"), ""},
		{"5", StringType(10), Value{}, "a number for a STRING"},
		{`"AQI="`, DataType{Kind: ByteString}, BytesValue([]byte{1, 2}), ""},
		{`"!!"`, DataType{Kind: ByteString}, Value{}, "not base64"},
		{`"2026-01-02T03:04:05Z"`, DataType{Kind: DateTime}, TimeValue(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), ""},
		{"null", TypeInt, Value{}, "null"},
		{"[1]", TypeInt, Value{}, "not a JSON scalar"},
		{"1 2", TypeInt, Value{}, "more than one JSON value"},
		{"{", TypeInt, Value{}, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.to.Kind.String()+"/"+tt.in, func(t *testing.T) {
			got, err := ParseJSONValue([]byte(tt.in), tt.to)
			if tt.reason != "" {
				var ce *ConversionError
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("ParseJSONValue(%s, %v) = %v, %v; want reason %q", tt.in, tt.to, got, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJSONValue(%s, %v): %v", tt.in, tt.to, err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("ParseJSONValue(%s, %v) = %v %v, want %v", tt.in, tt.to, got.Kind(), got, tt.want)
			}
		})
	}
}

func TestValueMarshalJSON(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{}, "null"},
		{BoolValue(true), "true"},
		{IntValue(LInt, math.MinInt64), "-9223372036854775808"},
		{UintValue(ULInt, math.MaxUint64), "18446744073709551615"},
		{FloatValue(Real, 0.1), "0.1"},
		{FloatValue(LReal, 1e21), "1e+21"},
		{FloatValue(LReal, math.NaN()), "null"},
		{FloatValue(LReal, math.Inf(-1)), "null"},
		{StringValue(`say "hi" <b>`), `"say \"hi\" \u003cb\u003e"`},
		{BytesValue([]byte{0xff, 0x00}), `"/wA="`},
		{TimeValue(time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)), `"2026-01-02T03:04:05.0000006Z"`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatalf("Marshal %v: %v", tt.v, err)
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%v %v) = %s, want %s", tt.v.Kind(), tt.v, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("Marshal(%v) = %s is not valid JSON", tt.v, got)
		}
	}
	// A sample marshals with its value inline.
	b, err := json.Marshal(struct{ V Value }{IntValue(Int, 3)})
	if err != nil || string(b) != `{"V":3}` {
		t.Fatalf("struct marshal = %s, %v", b, err)
	}
}

// TestMarshalJSONRoundTrip pins that what MarshalJSON writes, ParseJSONValue
// reads back to the same value for every kind that has a JSON form.
func TestMarshalJSONRoundTrip(t *testing.T) {
	for _, v := range []Value{
		BoolValue(false), IntValue(SInt, -128), UintValue(LWord, math.MaxUint64),
		FloatValue(Real, 3.4e38), FloatValue(LReal, -2.5e-300), StringValue("Ofen 1"),
		BytesValue([]byte("\x00\xff")), TimeValue(time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)),
	} {
		b, err := v.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		dt := DataType{Kind: v.Kind()}
		if v.Kind() == String {
			dt.Len = DefaultStringLen
		}
		back, err := ParseJSONValue(b, dt)
		if err != nil || !back.Equal(v) {
			t.Errorf("%v %v -> %s -> %v, %v", v.Kind(), v, b, back, err)
		}
	}
}

func FuzzParseValue(f *testing.F) {
	types := []DataType{TypeBool, {Kind: SInt}, TypeInt, TypeWord, TypeDInt, {Kind: ULInt}, TypeLInt, TypeReal, TypeLReal, StringType(8), {Kind: DateTime}, {Kind: ByteString}}
	for i, s := range []string{"true", "-128", "0x7fff", "65535", "1e3", "18446744073709551615", "-9223372036854775808", "3.4e38", "NaN", "hello", "2026-01-01T00:00:00Z", "", " 5 ", "0x", "-0"} {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, s string, ti uint8) {
		dt := types[int(ti)%len(types)]
		v, err := ParseValue(s, dt)
		if err != nil {
			var ce *ConversionError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConversionError", err)
			}
			return
		}
		if v.Kind() != dt.Kind {
			t.Fatalf("ParseValue(%q, %v) has kind %v", s, dt, v.Kind())
		}
		// What ParseValue accepts, its own String form parses back to.
		if dt.Kind == ByteString {
			return
		}
		back, err := ParseValue(v.String(), dt)
		if err != nil {
			t.Fatalf("ParseValue(%q, %v) = %v, which does not parse back: %v", s, dt, v, err)
		}
		if !back.Equal(v) && !(dt.Kind.IsFloat() && math.IsNaN(v.Float())) {
			t.Fatalf("%q -> %v -> %v", s, v, back)
		}
		if _, err := v.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
		if dt.Kind == String && strings.Contains(s, "\x00") && v.Str() != s {
			t.Fatalf("string changed: %q -> %q", s, v.Str())
		}
	})
}

// Numbers never allocate: making, converting, comparing and measuring
// them is the poller's hot path.
func TestNumericValuesDoNotAllocate(t *testing.T) {
	var sink float64
	n := testing.AllocsPerRun(100, func() {
		a := IntValue(Int, 1200)
		b := FloatValue(LReal, 1200.5)
		c, err := Convert(a, TypeDInt)
		if err != nil || !c.Equal(IntValue(DInt, 1200)) {
			panic("convert")
		}
		u := UintValue(Word, 7)
		sink += a.Distance(b) + c.Float() + u.Distance(UintValue(Word, 9)) + BoolValue(true).Float()
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
	_ = sink
}
