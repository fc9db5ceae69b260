package modbus

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

var defaults = AddressDefaults{Unit: 1}

func TestParseAddress(t *testing.T) {
	u := plc.DataType{Kind: plc.UInt}
	cases := []struct {
		in   string
		typ  plc.DataType
		d    AddressDefaults
		want Address
	}{
		{"HR100", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 99, Bit: -1, Type: u, Order: ABCD, Base: 1}},
		{"hr100", plc.DataType{}, AddressDefaults{Unit: 1, ZeroBased: true}, Address{Unit: 1, Table: HoldingRegisters, Register: 100, Bit: -1, Type: u, Order: ABCD}},
		{"40001", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 0, Bit: -1, Type: u, Order: ABCD, Base: 1}},
		{"400001", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 0, Bit: -1, Type: u, Order: ABCD, Base: 1}},
		{"465536", plc.TypeInt, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 65535, Bit: -1, Type: plc.TypeInt, Order: ABCD, Base: 1}},
		{"30010:REAL", plc.DataType{}, defaults, Address{Unit: 1, Table: InputRegisters, Register: 9, Bit: -1, Type: plc.TypeReal, Order: ABCD, Base: 1}},
		{"10001", plc.DataType{}, defaults, Address{Unit: 1, Table: DiscreteInputs, Bit: -1, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"00017", plc.TypeBool, defaults, Address{Unit: 1, Table: Coils, Register: 16, Bit: -1, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"3!HR100", plc.DataType{}, defaults, Address{Unit: 3, Table: HoldingRegisters, Register: 99, Bit: -1, Type: u, Order: ABCD, Base: 1}},
		{"HR100.3", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 99, Bit: 3, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"ir7.15", plc.TypeBool, defaults, Address{Unit: 1, Table: InputRegisters, Register: 6, Bit: 15, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"HR100:REAL:CDAB", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 99, Bit: -1, Type: plc.TypeReal, Order: CDAB, Base: 1}},
		{"HR100:dcba", plc.TypeLReal, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 99, Bit: -1, Type: plc.TypeLReal, Order: DCBA, Base: 1}},
		{"HR100", plc.TypeDInt, AddressDefaults{Unit: 9, Order: BADC}, Address{Unit: 9, Table: HoldingRegisters, Register: 99, Bit: -1, Type: plc.TypeDInt, Order: BADC, Base: 1}},
		{"255!co1", plc.DataType{}, defaults, Address{Unit: 255, Table: Coils, Bit: -1, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"DI5", plc.DataType{}, defaults, Address{Unit: 1, Table: DiscreteInputs, Register: 4, Bit: -1, Type: plc.TypeBool, Order: ABCD, Base: 1}},
		{"HR1:STRING[10]:BADC", plc.DataType{}, defaults, Address{Unit: 1, Table: HoldingRegisters, Bit: -1, Type: plc.StringType(10), Order: BADC, Base: 1}},
		{" 0!IR1:LINT ", plc.DataType{}, defaults, Address{Unit: 0, Table: InputRegisters, Bit: -1, Type: plc.TypeLInt, Order: ABCD, Base: 1}},
		{"HR2:UDINT", plc.DataType{Kind: plc.UDInt}, defaults, Address{Unit: 1, Table: HoldingRegisters, Register: 1, Bit: -1, Type: plc.DataType{Kind: plc.UDInt}, Order: ABCD, Base: 1}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseAddress(c.in, c.typ, c.d)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			back, err := ParseAddress(got.String(), plc.DataType{}, AddressDefaults{ZeroBased: got.Base == 0})
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
		d   AddressDefaults
		pos int
	}{
		{"", plc.DataType{}, defaults, 0},
		{"XR100", plc.DataType{}, defaults, 0},
		{"HR", plc.DataType{}, defaults, 2},
		{"HR0", plc.DataType{}, defaults, 2},                             // 1-based
		{"HR65536", plc.DataType{}, AddressDefaults{ZeroBased: true}, 2}, // past the last register
		{"4001", plc.DataType{}, defaults, 0},
		{"50001", plc.DataType{}, defaults, 0},
		{"256!HR1", plc.DataType{}, defaults, 0},
		{"x!HR1", plc.DataType{}, defaults, 0},
		{"HR1.16", plc.DataType{}, defaults, 4},
		{"HR1.", plc.DataType{}, defaults, 4},
		{"CO1.2", plc.DataType{}, defaults, 3},
		{"HR1:FLOATY", plc.DataType{}, defaults, 4},
		{"HR1:REAL:XYZW", plc.DataType{}, defaults, 9},
		{"HR1:CDAB:REAL", plc.DataType{}, defaults, 4},
		{"HR1:REAL:CDAB:X", plc.DataType{}, defaults, 13},
		{"HR1:REAL", plc.TypeInt, defaults, 4},
		{"CO1:INT", plc.DataType{}, defaults, 4},
		{"HR1.2:INT", plc.DataType{}, defaults, 6},
		{"HR1:BOOL", plc.DataType{}, defaults, 4},
		{"HR1:BYTE", plc.DataType{}, defaults, 4},
		{"HR65536:REAL", plc.DataType{}, defaults, 2},
		{"HR1x", plc.DataType{}, defaults, 3},
		{"HR1234567", plc.DataType{}, defaults, 2},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseAddress(c.in, c.typ, c.d)
			var ae *AddressError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *AddressError", err)
			}
			if ae.Pos != c.pos || ae.Text != c.in {
				t.Errorf("%v: position %d, want %d", err, ae.Pos, c.pos)
			}
		})
	}
}

func TestCheckAddressAcceptsEitherNumbering(t *testing.T) {
	for _, s := range []string{"HR0", "HR65536", "40000", "CO1"} {
		if err := CheckAddress(s, plc.DataType{}); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := CheckAddress("HR65537", plc.DataType{}); err == nil {
		t.Error("HR65537 passed")
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"HR100", "3!HR100.3", "40001", "400001:REAL:CDAB", "IR5:STRING[9]:BADC", "co1", "10001", "HR1:LREAL:DCBA", "2!30001:DINT", "HR1:"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, zero bool) {
		d := AddressDefaults{Unit: 1, ZeroBased: zero}
		a, err := ParseAddress(s, plc.DataType{}, d)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Pos < 0 || ae.Pos > len(s) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if !a.Type.Valid() || a.Bit < -1 || a.Bit > 15 || a.Order == OrderDefault || int(a.Register)+a.Registers() > 0x10000 {
			t.Fatalf("%q parsed to %+v", s, a)
		}
		back, err := ParseAddress(a.String(), plc.DataType{}, d)
		if err != nil || back != a {
			t.Fatalf("%q → %q → %+v, %v", s, a.String(), back, err)
		}
	})
}

func TestCodecOrders(t *testing.T) {
	// 0x41200000 is 10.0 as a REAL; 0x0102030405060708 an LINT.
	cases := []struct {
		addr string
		v    plc.Value
		wire []byte
	}{
		{"HR1:REAL:ABCD", plc.FloatValue(plc.Real, 10), []byte{0x41, 0x20, 0, 0}},
		{"HR1:REAL:CDAB", plc.FloatValue(plc.Real, 10), []byte{0, 0, 0x41, 0x20}},
		{"HR1:REAL:BADC", plc.FloatValue(plc.Real, 10), []byte{0x20, 0x41, 0, 0}},
		{"HR1:REAL:DCBA", plc.FloatValue(plc.Real, 10), []byte{0, 0, 0x20, 0x41}},
		{"HR1:LINT:ABCD", plc.IntValue(plc.LInt, 0x0102030405060708), []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"HR1:LINT:CDAB", plc.IntValue(plc.LInt, 0x0102030405060708), []byte{7, 8, 5, 6, 3, 4, 1, 2}},
		{"HR1:LINT:BADC", plc.IntValue(plc.LInt, 0x0102030405060708), []byte{2, 1, 4, 3, 6, 5, 8, 7}},
		{"HR1:LINT:DCBA", plc.IntValue(plc.LInt, 0x0102030405060708), []byte{8, 7, 6, 5, 4, 3, 2, 1}},
		{"HR1:INT", plc.IntValue(plc.Int, -2), []byte{0xFF, 0xFE}},
		{"HR1:INT:CDAB", plc.IntValue(plc.Int, 258), []byte{1, 2}},
		{"HR1:UINT:BADC", plc.UintValue(plc.UInt, 258), []byte{2, 1}},
		{"HR1:DINT", plc.IntValue(plc.DInt, -100000), []byte{0xFF, 0xFE, 0x79, 0x60}},
		{"HR1:UDINT:CDAB", plc.UintValue(plc.UDInt, 0xDEADBEEF), []byte{0xBE, 0xEF, 0xDE, 0xAD}},
		{"HR1:LREAL", plc.FloatValue(plc.LReal, math.Pi), []byte{0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18}},
		{"HR1:STRING[5]", plc.StringValue("kiln"), []byte{'k', 'i', 'l', 'n', 0, 0}},
		{"HR1:STRING[5]:BADC", plc.StringValue("kiln"), []byte{'i', 'k', 'n', 'l', 0, 0}},
		{"HR1:STRING[4]:CDAB", plc.StringValue("kiln"), []byte{'k', 'i', 'l', 'n'}},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			a, err := ParseAddress(c.addr, plc.DataType{}, defaults)
			if err != nil {
				t.Fatal(err)
			}
			b, err := a.Encode(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, c.wire) {
				t.Errorf("encoded % x, want % x", b, c.wire)
			}
			v, err := a.Decode(c.wire)
			if err != nil || !v.Equal(c.v) {
				t.Errorf("decoded %v, %v; want %v", v, err, c.v)
			}
		})
	}
}

func TestCodecBitInRegister(t *testing.T) {
	a, _ := ParseAddress("HR1.9", plc.DataType{}, defaults)
	v, err := a.Decode([]byte{0x02, 0x00})
	if err != nil || !v.Bool() {
		t.Errorf("bit 9 of 0x0200: %v, %v", v, err)
	}
	if got := a.SetBit(0x00FF, true); got != 0x02FF {
		t.Errorf("SetBit: %#x", got)
	}
	if _, err := a.Encode(plc.BoolValue(true)); err == nil {
		t.Error("a bit encoded on its own")
	}
}

func TestCodecRefusesLossyValues(t *testing.T) {
	a, _ := ParseAddress("HR1:INT", plc.DataType{}, defaults)
	if _, err := a.Encode(plc.IntValue(plc.DInt, 70000)); err == nil {
		t.Error("70000 encoded as an INT")
	}
	s, _ := ParseAddress("HR1:STRING[2]", plc.DataType{}, defaults)
	if _, err := s.Encode(plc.StringValue("abc")); err == nil {
		t.Error("3 bytes encoded as STRING[2]")
	}
}
