package modbus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// Table is one of the four Modbus data tables.
type Table uint8

// The Modbus tables, numbered as in the classic (Modicon) reference
// numbers: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers,
// 4xxxx holding registers.
const (
	Coils            Table = 0
	DiscreteInputs   Table = 1
	InputRegisters   Table = 3
	HoldingRegisters Table = 4
)

// String returns the table's prefix: "CO", "DI", "IR", "HR".
func (t Table) String() string {
	switch t {
	case Coils:
		return "CO"
	case DiscreteInputs:
		return "DI"
	case InputRegisters:
		return "IR"
	case HoldingRegisters:
		return "HR"
	}
	return "Table(" + strconv.Itoa(int(t)) + ")"
}

// IsBits reports whether the table holds single bits (coils, discrete
// inputs) rather than 16-bit registers.
func (t Table) IsBits() bool { return t == Coils || t == DiscreteInputs }

// Writable reports whether a client may write the table.
func (t Table) Writable() bool { return t == Coils || t == HoldingRegisters }

// Order is the byte and word order of a value that spans registers,
// named by where the bytes A (most significant) to D land: ABCD is
// big-endian (the Modbus standard), CDAB swaps the words, BADC swaps the
// bytes in each word, DCBA is little-endian. For 64-bit values the words
// follow the same rule (CDAB: GHEFCDAB). A 16-bit value is swapped by
// BADC and DCBA; a STRING keeps its register order and is byte-swapped by
// BADC and DCBA.
type Order uint8

// The orders. OrderDefault, the zero Order, means the device's default.
const (
	OrderDefault Order = iota
	ABCD
	CDAB
	BADC
	DCBA
)

var orderNames = [...]string{OrderDefault: "", ABCD: "ABCD", CDAB: "CDAB", BADC: "BADC", DCBA: "DCBA"}

// String returns the order's name ("CDAB"), "" for OrderDefault.
func (o Order) String() string {
	if int(o) < len(orderNames) {
		return orderNames[o]
	}
	return "Order(" + strconv.Itoa(int(o)) + ")"
}

// ParseOrder reads ABCD, CDAB, BADC or DCBA in any case.
func ParseOrder(s string) (Order, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for o := ABCD; o <= DCBA; o++ {
		if orderNames[o] == u {
			return o, nil
		}
	}
	return OrderDefault, fmt.Errorf("modbus: byte order %q is not ABCD, CDAB, BADC or DCBA", s)
}

// Address is a parsed Modbus address.
type Address struct {
	// Unit is the unit id (slave id) 0..255.
	Unit uint8
	// Table is the data table.
	Table Table
	// Register is the protocol address (0-based) of the coil, input or
	// first register.
	Register uint16
	// Bit is the bit 0..15 of a BOOL within a register, -1 for none.
	Bit int8
	// Type is the tag's type.
	Type plc.DataType
	// Order is the byte and word order (never OrderDefault after
	// parsing).
	Order Order
	// Base is the numbering the address was written in (0 or 1); String
	// writes the register number in it.
	Base uint8
}

// Registers returns how many registers (or coils) the value spans.
func (a Address) Registers() int {
	if a.Table.IsBits() || a.Bit >= 0 {
		return 1
	}
	if a.Type.Kind == plc.String {
		return (a.Type.Len + 1) / 2
	}
	return a.Type.Kind.Bits() / 16
}

// String formats the address canonically: "3!HR100.3:BOOL",
// "1!HR40:REAL:CDAB", "1!CO7:BOOL", with the register number in the
// numbering it was written in.
func (a Address) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(a.Unit)))
	b.WriteByte('!')
	b.WriteString(a.Table.String())
	b.WriteString(strconv.Itoa(int(a.Register) + int(a.Base)))
	if a.Bit >= 0 {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(int(a.Bit)))
	}
	b.WriteByte(':')
	b.WriteString(a.Type.String())
	if !a.Table.IsBits() && a.Bit < 0 {
		b.WriteByte(':')
		b.WriteString(a.Order.String())
	}
	return b.String()
}

// AddressError reports an address that cannot be used, with the position
// (0-based byte offset into Text) of the problem.
type AddressError struct {
	Text   string
	Pos    int
	Reason string
}

// Error implements error.
func (e *AddressError) Error() string {
	return fmt.Sprintf("modbus: bad address %q at position %d: %s", e.Text, e.Pos, e.Reason)
}

// AddressDefaults are the device settings an address is read with.
type AddressDefaults struct {
	// Unit is the unit id of addresses without "unit!".
	Unit uint8
	// Order is the order of values without their own (OrderDefault
	// means ABCD).
	Order Order
	// ZeroBased makes register numbers protocol addresses (HR0 and 40000
	// are the first holding register); otherwise they count from 1
	// (HR1 and 40001), as in the Modicon convention and most manuals.
	ZeroBased bool
}

// ParseAddress parses a Modbus address as plant engineers write it, for
// a tag of type t, case-insensitive:
//
//	[unit!]table[.bit][:TYPE][:ORDER]
//
// where table is a prefix and register number (HR100, IR5, CO12, DI3) or a
// classic five- or six-digit reference (40001, 400001, 30010, 10001,
// 00001), unit a unit id 0..255 (default d.Unit), bit 0..15 picks a BOOL
// out of a register, TYPE one of INT, UINT, DINT, UDINT, REAL, LREAL,
// LINT, ULINT, WORD, DWORD, LWORD, STRING[n], BOOL, and ORDER ABCD, CDAB,
// BADC or DCBA (default d.Order, else ABCD). The zero t takes the inline
// type, else BOOL for coils, inputs and bits and UINT for a register;
// when both are given they must agree. Register numbers count from 1
// unless d.ZeroBased.
func ParseAddress(s string, t plc.DataType, d AddressDefaults) (Address, error) {
	p := addrParser{text: s}
	return p.parse(t, d)
}

// CheckAddress validates an address for a tag of type t without a
// device; it is the driver's plc.Registration.CheckAddress. As it does
// not know the device's numbering, it accepts a register number valid in
// either.
func CheckAddress(address string, t plc.DataType) error {
	_, err := ParseAddress(address, t, AddressDefaults{Unit: 1})
	if err == nil {
		return nil
	}
	if _, err0 := ParseAddress(address, t, AddressDefaults{Unit: 1, ZeroBased: true}); err0 == nil {
		return nil
	}
	return err
}

type addrParser struct {
	text string
	u    string // upper-cased text
	pos  int
	end  int
}

func (p *addrParser) fail(pos int, format string, args ...any) (Address, error) {
	return Address{}, &AddressError{Text: p.text, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

// digits returns the decimal digits at p.pos (at most 9 are read as a
// number; more are reported as too large by the caller).
func (p *addrParser) digits() string {
	start := p.pos
	for p.pos < p.end && p.u[p.pos] >= '0' && p.u[p.pos] <= '9' {
		p.pos++
	}
	return p.u[start:p.pos]
}

func (p *addrParser) eat(prefix string) bool {
	if strings.HasPrefix(p.u[p.pos:p.end], prefix) {
		p.pos += len(prefix)
		return true
	}
	return false
}

func (p *addrParser) parse(declared plc.DataType, d AddressDefaults) (Address, error) {
	p.u = asciiUpper(p.text)
	for p.pos < len(p.u) && p.u[p.pos] == ' ' {
		p.pos++
	}
	p.end = len(strings.TrimRight(p.u, " "))
	if p.pos >= p.end {
		return p.fail(0, "empty address")
	}
	a := Address{Unit: d.Unit, Bit: -1, Order: d.Order}
	if a.Order == OrderDefault {
		a.Order = ABCD
	}
	base := 1
	if d.ZeroBased {
		base = 0
	}
	a.Base = uint8(base)

	// Suffixes: ":TYPE", ":ORDER", ":TYPE:ORDER".
	inline := plc.DataType{}
	typePos, orderPos := -1, -1
	if i := strings.IndexByte(p.u[p.pos:p.end], ':'); i >= 0 {
		colon := p.pos + i
		parts := strings.Split(p.text[colon+1:p.end], ":")
		if len(parts) > 2 {
			return p.fail(colon+1+len(parts[0])+1+len(parts[1]), "want at most :TYPE:ORDER")
		}
		at := colon + 1
		for k, part := range parts {
			if o, err := ParseOrder(part); err == nil {
				if k != len(parts)-1 {
					return p.fail(at, "the byte order comes after the type")
				}
				a.Order, orderPos = o, at
				at += len(part) + 1
				continue
			}
			if k > 0 {
				return p.fail(at, "%q is not a byte order (ABCD, CDAB, BADC, DCBA)", strings.TrimSpace(part))
			}
			t, err := plc.ParseDataType(part)
			if err != nil {
				return p.fail(at, "%q is neither a type nor a byte order", strings.TrimSpace(part))
			}
			inline, typePos = t, at
			at += len(part) + 1
		}
		p.end = colon
	}

	// "unit!"
	if i := strings.IndexByte(p.u[p.pos:p.end], '!'); i >= 0 {
		start := p.pos
		ds := p.digits()
		if ds == "" || p.pos != start+i {
			return p.fail(start, "want a unit id 0..255 before !")
		}
		if len(ds) > 3 {
			return p.fail(start, "unit id %s out of range 0..255", ds)
		}
		n, _ := strconv.Atoi(ds)
		if n > 255 {
			return p.fail(start, "unit id %d out of range 0..255", n)
		}
		a.Unit = uint8(n)
		p.pos++ // the !
	}

	// The table and register number.
	numPos := p.pos
	var num int
	prefixed := true
	switch {
	case p.eat("HR"):
		a.Table = HoldingRegisters
	case p.eat("IR"):
		a.Table = InputRegisters
	case p.eat("CO"):
		a.Table = Coils
	case p.eat("DI"):
		a.Table = DiscreteInputs
	default:
		prefixed = false
		ds := p.digits()
		if len(ds) != 5 && len(ds) != 6 {
			if ds == "" {
				return p.fail(numPos, "want a table: HR, IR, CO, DI or a reference such as 40001")
			}
			return p.fail(numPos, "a reference number has 5 or 6 digits (40001, 400001), not %d", len(ds))
		}
		switch ds[0] {
		case '0':
			a.Table = Coils
		case '1':
			a.Table = DiscreteInputs
		case '3':
			a.Table = InputRegisters
		case '4':
			a.Table = HoldingRegisters
		default:
			return p.fail(numPos, "reference %s: the first digit names the table (0, 1, 3 or 4)", ds)
		}
		num, _ = strconv.Atoi(ds[1:])
		numPos++
	}
	if prefixed {
		numPos = p.pos
		ds := p.digits()
		if ds == "" {
			return p.fail(numPos, "want a register number after %s", a.Table)
		}
		if len(ds) > 6 {
			return p.fail(numPos, "register number %s too large", ds)
		}
		num, _ = strconv.Atoi(ds)
	}
	if num < base || num > 0xFFFF+base {
		return p.fail(numPos, "register number %d out of range %d..%d (%s numbering)", num, base, 0xFFFF+base, baseName(base))
	}
	a.Register = uint16(num - base)

	// ".bit"
	if p.eat(".") {
		bpos := p.pos
		if a.Table.IsBits() {
			return p.fail(bpos-1, "a bit number needs a register, not a %s", a.Table)
		}
		ds := p.digits()
		if ds == "" {
			return p.fail(bpos, "want a bit number 0..15")
		}
		n, _ := strconv.Atoi(ds)
		if len(ds) > 2 || n > 15 {
			return p.fail(bpos, "bit %s out of range 0..15", ds)
		}
		a.Bit = int8(n)
	}
	if p.pos != p.end {
		return p.fail(p.pos, "unexpected %q", p.text[p.pos:p.end])
	}

	t := declared
	switch {
	case t.Kind == plc.KindInvalid:
		t = inline
	case inline.Kind != plc.KindInvalid && t != inline:
		return p.fail(typePos, "inline type %s disagrees with the tag's type %s", inline, t)
	}
	if typePos < 0 {
		typePos = p.end
	}
	if t.Kind == plc.KindInvalid {
		t = plc.DataType{Kind: plc.UInt}
		if a.Table.IsBits() || a.Bit >= 0 {
			t = plc.TypeBool
		}
	}
	switch {
	case !t.Valid():
		return p.fail(typePos, "invalid type %s", t)
	case a.Table.IsBits() && t.Kind != plc.Bool:
		return p.fail(typePos, "a %s holds a BOOL, not %s", a.Table, t)
	case a.Bit >= 0 && t.Kind != plc.Bool:
		return p.fail(typePos, "a bit in a register is a BOOL, not %s", t)
	case !a.Table.IsBits() && a.Bit < 0 && t.Kind == plc.Bool:
		return p.fail(typePos, "a BOOL in a register needs a bit number (HR100.3)")
	case !a.Table.IsBits() && t.Kind != plc.String && t.Kind != plc.Bool && t.Kind.Bits() < 16:
		return p.fail(typePos, "type %s does not fill a register: use a 16-, 32- or 64-bit type", t)
	}
	if a.Table.IsBits() || a.Bit >= 0 {
		if orderPos >= 0 {
			return p.fail(orderPos, "a byte order needs a value in registers, not a bit")
		}
		a.Order = ABCD // bits have no byte order
	}
	a.Type = t
	if int(a.Register)+a.Registers() > 0x10000 {
		return p.fail(numPos, "a %s at register %d runs past the last register", t, num)
	}
	return a, nil
}

func baseName(base int) string {
	if base == 0 {
		return "0-based"
	}
	return "1-based"
}

// asciiUpper upper-cases ASCII letters only, so positions in the result
// are positions in s.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
