package s7

import (
	"errors"
	"math"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

func TestParseAddress(t *testing.T) {
	cases := []struct {
		in   string
		typ  plc.DataType
		want Address
	}{
		{"DB1.DBX0.0", plc.DataType{}, Address{Area: AreaDB, DB: 1, Type: plc.TypeBool}},
		{"db12.dbx3.7", plc.DataType{}, Address{Area: AreaDB, DB: 12, Offset: 3, Bit: 7, Type: plc.TypeBool}},
		{"%DB1.DBW4", plc.DataType{}, Address{Area: AreaDB, DB: 1, Offset: 4, Type: plc.TypeWord}},
		{"DB1.DBW4", plc.TypeInt, Address{Area: AreaDB, DB: 1, Offset: 4, Type: plc.TypeInt}},
		{"DB1.DBD8", plc.TypeReal, Address{Area: AreaDB, DB: 1, Offset: 8, Type: plc.TypeReal}},
		{"DB1.DBD8", plc.DataType{}, Address{Area: AreaDB, DB: 1, Offset: 8, Type: plc.TypeDWord}},
		{"DB3.DBB0", plc.DataType{}, Address{Area: AreaDB, DB: 3, Type: plc.TypeByte}},
		{"DB1.DBB12", plc.TypeLReal, Address{Area: AreaDB, DB: 1, Offset: 12, Type: plc.TypeLReal}},
		{"DB5.DBB0[20]", plc.DataType{}, Address{Area: AreaDB, DB: 5, Type: plc.StringType(20)}},
		{"DB5.DBB0", plc.StringType(20), Address{Area: AreaDB, DB: 5, Type: plc.StringType(20)}},
		{"%DB1.DBW10:INT", plc.DataType{}, Address{Area: AreaDB, DB: 1, Offset: 10, Type: plc.TypeInt}},
		{"DB1.DBB2:STRING[8]", plc.DataType{}, Address{Area: AreaDB, DB: 1, Offset: 2, Type: plc.StringType(8)}},
		{"M0.1", plc.DataType{}, Address{Area: AreaM, Bit: 1, Type: plc.TypeBool}},
		{"MX2.3", plc.DataType{}, Address{Area: AreaM, Offset: 2, Bit: 3, Type: plc.TypeBool}},
		{"MB7", plc.DataType{}, Address{Area: AreaM, Offset: 7, Type: plc.TypeByte}},
		{"mw10", plc.TypeInt, Address{Area: AreaM, Offset: 10, Type: plc.TypeInt}},
		{"MD20:DINT", plc.DataType{}, Address{Area: AreaM, Offset: 20, Type: plc.TypeDInt}},
		{"I0.0", plc.DataType{}, Address{Area: AreaI, Type: plc.TypeBool}},
		{"E1.2", plc.DataType{}, Address{Area: AreaI, Offset: 1, Bit: 2, Type: plc.TypeBool}},
		{"IB3", plc.DataType{}, Address{Area: AreaI, Offset: 3, Type: plc.TypeByte}},
		{"EW4", plc.DataType{}, Address{Area: AreaI, Offset: 4, Type: plc.TypeWord}},
		{"ID8", plc.DataType{}, Address{Area: AreaI, Offset: 8, Type: plc.TypeDWord}},
		{"Q1.2", plc.DataType{}, Address{Area: AreaQ, Offset: 1, Bit: 2, Type: plc.TypeBool}},
		{"A1.2", plc.DataType{}, Address{Area: AreaQ, Offset: 1, Bit: 2, Type: plc.TypeBool}},
		{"QW6:INT", plc.DataType{}, Address{Area: AreaQ, Offset: 6, Type: plc.TypeInt}},
		{"AD0", plc.TypeReal, Address{Area: AreaQ, Type: plc.TypeReal}},
		{" DB1.DBW4 ", plc.DataType{}, Address{Area: AreaDB, DB: 1, Offset: 4, Type: plc.TypeWord}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseAddress(c.in, c.typ)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			// The canonical form parses back to the same address.
			back, err := ParseAddress(got.String(), plc.DataType{})
			if err != nil || back != got {
				t.Errorf("String %q parses to %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseAddressErrors(t *testing.T) {
	cases := []struct {
		in  string
		typ plc.DataType
		pos int
	}{
		{"", plc.DataType{}, 0},
		{"X1", plc.DataType{}, 0},
		{"DB0.DBW0", plc.DataType{}, 2},
		{"DB70000.DBW0", plc.DataType{}, 2},
		{"DB1.DBW", plc.DataType{}, 7},
		{"DB1.DBZ2", plc.DataType{}, 6},
		{"DB1.DBX0", plc.DataType{}, 8},
		{"DB1.DBX0.8", plc.DataType{}, 9},
		{"DB1.DBW4", plc.TypeReal, 6},
		{"DB1.DBD4", plc.TypeInt, 6},
		{"DB1.DBX0.0", plc.TypeInt, 6},
		{"DB1.DBW4:REAL", plc.DataType{}, 6},
		{"DB1.DBW4:FOO", plc.DataType{}, 9},
		{"DB1.DBW4:INT", plc.TypeDInt, 9},
		{"MW", plc.DataType{}, 2},
		{"MW10x", plc.DataType{}, 4},
		{"DB1.DBW0[4]", plc.DataType{}, 8},
		{"DB1.DBB0[4]", plc.TypeInt, 6},
		{"DB1.DBB0[0]", plc.DataType{}, 9},
		{"DB1.DBB0[4", plc.DataType{}, 10},
		{"DB1.DBB99999999", plc.DataType{}, 7},
		{"DB1.DBB2097151", plc.TypeLReal, 7},
		{"DB1.DBB0", plc.DataType{Kind: plc.DateTime}, 6},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseAddress(c.in, c.typ)
			var ae *AddressError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *AddressError", err)
			}
			if ae.Pos != c.pos || ae.Text != c.in {
				t.Errorf("error %q at %d, want position %d", ae.Error(), ae.Pos, c.pos)
			}
		})
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"DB1.DBX0.0", "%DB1.DBW10:INT", "MW10", "E0.1", "AB3", "DB5.DBB0[20]", "DB1.DBB12:LREAL", "ID4:REAL", "DB1.DBW4:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s, plc.DataType{})
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Pos < 0 || ae.Pos > len(s) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if !a.Type.Valid() || a.Offset < 0 || a.Bit < 0 || a.Bit > 7 {
			t.Fatalf("%q parsed to %+v", s, a)
		}
		back, err := ParseAddress(a.String(), plc.DataType{})
		if err != nil || back != a {
			t.Fatalf("%q → %q → %+v, %v", s, a.String(), back, err)
		}
	})
}

func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		addr string
		v    plc.Value
		raw  []byte
	}{
		{"DB1.DBX0.3", plc.BoolValue(true), []byte{1}},
		{"DB1.DBB0", plc.UintValue(plc.Byte, 200), []byte{200}},
		{"DB1.DBB0:SINT", plc.IntValue(plc.SInt, -2), []byte{0xFE}},
		{"DB1.DBB0:CHAR", plc.UintValue(plc.Char, 'A'), []byte{'A'}},
		{"DB1.DBW0:INT", plc.IntValue(plc.Int, -2), []byte{0xFF, 0xFE}},
		{"DB1.DBW0:UINT", plc.UintValue(plc.UInt, 65535), []byte{0xFF, 0xFF}},
		{"DB1.DBD0:DINT", plc.IntValue(plc.DInt, -70000), []byte{0xFF, 0xFE, 0xEE, 0x90}},
		{"DB1.DBD0:REAL", plc.FloatValue(plc.Real, 1.5), []byte{0x3F, 0xC0, 0, 0}},
		{"DB1.DBB0:LINT", plc.IntValue(plc.LInt, math.MinInt64), []byte{0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"DB1.DBB0:ULINT", plc.UintValue(plc.ULInt, math.MaxUint64), []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"DB1.DBB0:LREAL", plc.FloatValue(plc.LReal, -0.25), []byte{0xBF, 0xD0, 0, 0, 0, 0, 0, 0}},
		{"DB1.DBB0[4]", plc.StringValue("ab"), []byte{4, 2, 'a', 'b', 0, 0}},
	}
	for _, c := range cases {
		a, err := ParseAddress(c.addr, plc.DataType{})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := a.Encode(c.v)
		if err != nil || string(raw) != string(c.raw) {
			t.Errorf("%s: Encode(%v) = % x, %v; want % x", c.addr, c.v, raw, err, c.raw)
		}
		b := c.raw
		if a.Type.Kind == plc.Bool {
			b = []byte{1 << a.Bit}
		}
		got, err := a.Decode(b)
		if err != nil || !got.Equal(c.v) {
			t.Errorf("%s: Decode(% x) = %v, %v; want %v", c.addr, b, got, err, c.v)
		}
	}
	a, _ := ParseAddress("DB1.DBB0[4]", plc.DataType{})
	if _, err := a.Encode(plc.StringValue("too long")); err == nil {
		t.Error("a string over the capacity was encoded")
	}
	// A string whose header claims more than its capacity reads its capacity.
	if v, _ := a.Decode([]byte{4, 200, 'a', 'b', 'c', 'd'}); v.Str() != "abcd" {
		t.Errorf("overlong header: %q", v.Str())
	}
	i, _ := ParseAddress("DB1.DBW0:INT", plc.DataType{})
	if _, err := i.Encode(plc.IntValue(plc.DInt, 40000)); err == nil {
		t.Error("40000 was encoded as INT")
	}
	if _, err := i.Decode([]byte{1}); err == nil {
		t.Error("one byte decoded as INT")
	}
}
