package plc

import (
	"errors"
	"testing"
)

func TestParseDataTypeAcceptsEngineersSpellings(t *testing.T) {
	tests := []struct {
		in   string
		want DataType
	}{
		{"BOOL", TypeBool},
		{"bool", TypeBool},
		{" Int ", TypeInt},
		{"dint", TypeDInt},
		{"LReal", TypeLReal},
		{"byte", TypeByte},
		{"CHAR", DataType{Kind: Char}},
		{"SINT", DataType{Kind: SInt}},
		{"USINT", DataType{Kind: USInt}},
		{"WORD", TypeWord},
		{"UINT", DataType{Kind: UInt}},
		{"DWORD", TypeDWord},
		{"UDINT", DataType{Kind: UDInt}},
		{"REAL", TypeReal},
		{"LWORD", DataType{Kind: LWord}},
		{"LINT", TypeLInt},
		{"ULINT", DataType{Kind: ULInt}},
		{"STRING", StringType(254)},
		{"string[20]", StringType(20)},
		{"STRING[ 1 ]", StringType(1)},
		{"STRING [254]", StringType(254)},
		{"Boolean", TypeBool},
		{"Int16", TypeInt},
		{"UInt32", DataType{Kind: UDInt}},
		{"Float", TypeReal},
		{"Double", TypeLReal},
		{"SByte", DataType{Kind: SInt}},
		{"DateTime", DataType{Kind: DateTime}},
		{"ByteString", DataType{Kind: ByteString}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDataType(tt.in)
			if err != nil {
				t.Fatalf("ParseDataType(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseDataType(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDataTypeRejectsWithReason(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", "empty type name"},
		{"   ", "empty type name"},
		{"FLOAT32", "unknown type"},
		{"INVALID", "unknown type"},
		{"STRING[0]", "string length must be 1..254"},
		{"STRING[255]", "string length must be 1..254"},
		{"STRING[x]", "string length must be 1..254"},
		{"STRING[20", "want STRING or STRING[n]"},
		{"STRINGS", "want STRING or STRING[n]"},
		{"ſtring", "unknown type"},
		{"ınt", "unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseDataType(tt.in)
			var te *TypeError
			if !errors.As(err, &te) {
				t.Fatalf("ParseDataType(%q) error = %v, want *TypeError", tt.in, err)
			}
			if te.Reason != tt.reason || te.Text != tt.in {
				t.Fatalf("got %+v, want reason %q for text %q", te, tt.reason, tt.in)
			}
		})
	}
}

func TestDataTypeWidths(t *testing.T) {
	tests := []struct {
		t          DataType
		bits, size int
	}{
		{TypeBool, 1, 1},
		{TypeByte, 8, 1},
		{DataType{Kind: Char}, 8, 1},
		{DataType{Kind: SInt}, 8, 1},
		{DataType{Kind: USInt}, 8, 1},
		{TypeWord, 16, 2},
		{TypeInt, 16, 2},
		{DataType{Kind: UInt}, 16, 2},
		{TypeDWord, 32, 4},
		{TypeDInt, 32, 4},
		{DataType{Kind: UDInt}, 32, 4},
		{TypeReal, 32, 4},
		{DataType{Kind: LWord}, 64, 8},
		{TypeLInt, 64, 8},
		{DataType{Kind: ULInt}, 64, 8},
		{TypeLReal, 64, 8},
		{StringType(20), 0, 22},
		{DataType{Kind: DateTime}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.t.String(), func(t *testing.T) {
			if got := tt.t.Kind.Bits(); got != tt.bits {
				t.Errorf("Bits = %d, want %d", got, tt.bits)
			}
			if got := tt.t.Size(); got != tt.size {
				t.Errorf("Size = %d, want %d", got, tt.size)
			}
		})
	}
}

func TestKindClasses(t *testing.T) {
	for k := Bool; k <= ByteString; k++ {
		signed, unsigned, float := k.IsSigned(), k.IsUnsigned(), k.IsFloat()
		n := 0
		for _, b := range []bool{signed, unsigned, float} {
			if b {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%v is in %d numeric classes", k, n)
		}
		if k.IsNumeric() != (n == 1) {
			t.Errorf("%v: IsNumeric = %v with %d classes", k, k.IsNumeric(), n)
		}
		if k.IsInteger() != (signed || unsigned) {
			t.Errorf("%v: IsInteger wrong", k)
		}
	}
	if Bool.IsNumeric() || String.IsNumeric() {
		t.Error("BOOL and STRING must not be numeric")
	}
	if got := Kind(200).String(); got != "Kind(200)" {
		t.Errorf("Kind(200).String() = %q", got)
	}
}

func TestDataTypeValid(t *testing.T) {
	tests := []struct {
		t    DataType
		want bool
	}{
		{DataType{}, false},
		{TypeInt, true},
		{DataType{Kind: Int, Len: 3}, false},
		{StringType(0), false},
		{StringType(254), true},
		{StringType(255), false},
		{DataType{Kind: Kind(99)}, false},
	}
	for _, tt := range tests {
		if got := tt.t.Valid(); got != tt.want {
			t.Errorf("%#v.Valid() = %v, want %v", tt.t, got, tt.want)
		}
	}
}

func TestDataTypeTextRoundTrip(t *testing.T) {
	for _, dt := range []DataType{TypeBool, TypeDInt, StringType(7), {Kind: ByteString}} {
		b, err := dt.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back DataType
		if err := back.UnmarshalText(b); err != nil {
			t.Fatal(err)
		}
		if back != dt {
			t.Errorf("round trip %v -> %s -> %v", dt, b, back)
		}
	}
	if _, err := (DataType{}).MarshalText(); err == nil {
		t.Error("MarshalText of the zero DataType succeeded")
	}
	var dt DataType
	if err := dt.UnmarshalText([]byte("NOPE")); err == nil {
		t.Error("UnmarshalText(NOPE) succeeded")
	}
}

func FuzzParseDataType(f *testing.F) {
	for _, s := range []string{"BOOL", "string[20]", "STRING", "Int16", "", "STRING[", "STRING[]", "STRING[-1]", "ſtring", "double"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dt, err := ParseDataType(s)
		if err != nil {
			var te *TypeError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TypeError", err)
			}
			return
		}
		if !dt.Valid() {
			t.Fatalf("ParseDataType(%q) = invalid %#v", s, dt)
		}
		back, err := ParseDataType(dt.String())
		if err != nil || back != dt {
			t.Fatalf("%q -> %v does not round-trip: %v, %v", s, dt, back, err)
		}
	})
}
