package s7

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// Area is an S7 memory area.
type Area byte

// The memory areas the driver reads and writes, with their S7 codes.
const (
	AreaI  Area = wire.AreaI  // process inputs (I, German E)
	AreaQ  Area = wire.AreaQ  // process outputs (Q, German A)
	AreaM  Area = wire.AreaM  // flags / bit memory (M)
	AreaDB Area = wire.AreaDB // data blocks (DB)
)

// String returns the area's letter(s): "I", "Q", "M", "DB".
func (a Area) String() string {
	switch a {
	case AreaI:
		return "I"
	case AreaQ:
		return "Q"
	case AreaM:
		return "M"
	case AreaDB:
		return "DB"
	}
	return "Area(0x" + strconv.FormatUint(uint64(a), 16) + ")"
}

// Address is a parsed S7 address: where a tag lives and its type.
type Address struct {
	Area Area
	// DB is the data block number (1..65535) in AreaDB, 0 elsewhere.
	DB int
	// Offset is the byte offset of the value.
	Offset int
	// Bit is the bit 0..7 of a BOOL; 0 for other types.
	Bit int
	// Type is the tag's type in the PLC.
	Type plc.DataType
}

// Size returns the bytes the value occupies (1 for a BOOL).
func (a Address) Size() int { return a.Type.Size() }

// String formats the address canonically, with its type:
// "DB1.DBX0.3:BOOL", "MW10:INT", "DB5.DBB0:STRING[20]".
func (a Address) String() string {
	var b strings.Builder
	w := "B"
	switch a.Type.Kind.Bits() {
	case 1:
		w = "X"
	case 16:
		w = "W"
	case 32:
		w = "D"
	}
	if a.Area == AreaDB {
		b.WriteString("DB" + strconv.Itoa(a.DB) + ".DB" + w)
	} else {
		b.WriteString(a.Area.String())
		if w != "X" {
			b.WriteString(w)
		}
	}
	b.WriteString(strconv.Itoa(a.Offset))
	if w == "X" {
		b.WriteString("." + strconv.Itoa(a.Bit))
	}
	b.WriteString(":" + a.Type.String())
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
	return fmt.Sprintf("s7: bad address %q at position %d: %s", e.Text, e.Pos, e.Reason)
}

// ParseAddress parses an S7 address as engineers write it, for a tag of
// type t. The zero t means: take the type written inline after a colon
// ("%DB1.DBW10:INT", PLC4X style), else the width's default (X → BOOL,
// B → BYTE, W → WORD, D → DWORD, B…[n] → STRING[n]). When both t and an
// inline type are given they must agree. The type must fit the width: X
// is BOOL; B takes 8-bit types, 64-bit types and strings (which start at
// a byte); W takes 16-bit and D 32-bit types.
//
// Accepted forms, case-insensitive, with an optional leading %:
// DB<n>.DBX<byte>.<bit>, DB<n>.DBB<byte>, DB<n>.DBW<byte>, DB<n>.DBD<byte>;
// M<byte>.<bit> (or MX), MB, MW, MD; inputs I… (German E…) and outputs
// Q… (German A…) likewise; a B address may end in [n] for a STRING[n].
func ParseAddress(s string, t plc.DataType) (Address, error) {
	p := addrParser{text: s}
	return p.parse(t)
}

// CheckAddress validates an address for a tag of type t without a
// connection; it is the driver's plc.Registration.CheckAddress.
func CheckAddress(address string, t plc.DataType) error {
	_, err := ParseAddress(address, t)
	return err
}

type addrParser struct {
	text string
	u    string // upper-cased text
	pos  int
}

func (p *addrParser) fail(pos int, format string, args ...any) (Address, error) {
	return Address{}, &AddressError{Text: p.text, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

// number reads decimal digits at p.pos.
func (p *addrParser) number(what string, max int) (int, error) {
	start := p.pos
	for p.pos < len(p.u) && p.u[p.pos] >= '0' && p.u[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		return 0, &AddressError{Text: p.text, Pos: start, Reason: "want " + what}
	}
	if p.pos-start > 8 {
		return 0, &AddressError{Text: p.text, Pos: start, Reason: what + " too large"}
	}
	n, _ := strconv.Atoi(p.u[start:p.pos])
	if n > max {
		return 0, &AddressError{Text: p.text, Pos: start, Reason: fmt.Sprintf("%s %d out of range 0..%d", what, n, max)}
	}
	return n, nil
}

func (p *addrParser) eat(prefix string) bool {
	if strings.HasPrefix(p.u[p.pos:], prefix) {
		p.pos += len(prefix)
		return true
	}
	return false
}

func (p *addrParser) parse(declared plc.DataType) (Address, error) {
	p.u = asciiUpper(p.text)
	// Leading and trailing blanks are tolerated, not counted as content.
	for p.pos < len(p.u) && p.u[p.pos] == ' ' {
		p.pos++
	}
	end := len(strings.TrimRight(p.u, " "))
	if p.pos >= end {
		return p.fail(0, "empty address")
	}
	inline := plc.DataType{}
	if i := strings.LastIndexByte(p.u[:end], ':'); i >= 0 {
		t, err := plc.ParseDataType(p.text[i+1 : end])
		if err != nil {
			return p.fail(i+1, "unknown type %q", strings.TrimSpace(p.text[i+1:end]))
		}
		inline, end = t, i
	}
	p.u = p.u[:end]
	p.eat("%")
	var a Address
	startArea := p.pos
	switch {
	case p.eat("DB"):
		a.Area = AreaDB
		n, err := p.number("data block number", 65535)
		if err != nil {
			return Address{}, err
		}
		if n == 0 {
			return p.fail(startArea+2, "data block number must be 1..65535")
		}
		a.DB = n
		if !p.eat(".DB") {
			return p.fail(p.pos, "want .DBX, .DBB, .DBW or .DBD after DB%d", n)
		}
	case p.eat("M"):
		a.Area = AreaM
	case p.eat("I"), p.eat("E"):
		a.Area = AreaI
	case p.eat("Q"), p.eat("A"):
		a.Area = AreaQ
	default:
		return p.fail(p.pos, "want an area: DB, M, I/E or Q/A")
	}
	width := byte('X')
	wpos := p.pos
	if p.pos < len(p.u) {
		switch c := p.u[p.pos]; c {
		case 'X', 'B', 'W', 'D':
			width = c
			p.pos++
		default:
			if a.Area == AreaDB {
				return p.fail(p.pos, "want X, B, W or D after .DB")
			}
		}
	}
	startOff := p.pos
	off, err := p.number("byte offset", wire.MaxAddress)
	if err != nil {
		return Address{}, err
	}
	a.Offset = off
	strLen := 0
	if width == 'X' {
		if !p.eat(".") {
			return p.fail(p.pos, "want .<bit> after the byte offset of a bit address")
		}
		bpos := p.pos
		bit, err := p.number("bit number", 9)
		if err != nil {
			return Address{}, err
		}
		if bit > 7 {
			return p.fail(bpos, "bit %d out of range 0..7", bit)
		}
		a.Bit = bit
	} else if p.eat("[") {
		lpos := p.pos
		if width != 'B' {
			return p.fail(lpos-1, "a [length] needs a B address")
		}
		n, err := p.number("string length", plc.DefaultStringLen)
		if err != nil {
			return Address{}, err
		}
		if n == 0 {
			return p.fail(lpos, "string length must be 1..%d", plc.DefaultStringLen)
		}
		if !p.eat("]") {
			return p.fail(p.pos, "want ] after the string length")
		}
		strLen = n
	}
	if p.pos != len(p.u) {
		return p.fail(p.pos, "unexpected %q", p.text[p.pos:end])
	}

	t := declared
	switch {
	case t.Kind == plc.KindInvalid && inline.Kind != plc.KindInvalid:
		t = inline
	case t.Kind != plc.KindInvalid && inline.Kind != plc.KindInvalid && t != inline:
		return p.fail(end+1, "inline type %s disagrees with the tag's type %s", inline, t)
	}
	if strLen > 0 {
		switch {
		case t.Kind == plc.KindInvalid:
			t = plc.StringType(strLen)
		case t.Kind == plc.String && t.Len != strLen:
			return p.fail(wpos, "[%d] disagrees with type %s", strLen, t)
		case t.Kind != plc.String:
			return p.fail(wpos, "[%d] needs a STRING type, not %s", strLen, t)
		}
	}
	if t.Kind == plc.KindInvalid {
		t = map[byte]plc.DataType{'X': plc.TypeBool, 'B': plc.TypeByte, 'W': plc.TypeWord, 'D': plc.TypeDWord}[width]
	}
	if !t.Valid() {
		return p.fail(wpos, "invalid type %s", t)
	}
	if !fits(width, t) {
		return p.fail(wpos, "type %s does not fit a %s address", t, widthName(width))
	}
	a.Type = t
	if a.Offset+t.Size()-1 > wire.MaxAddress {
		return p.fail(startOff, "a %s at byte %d runs past the largest address %d", t, a.Offset, wire.MaxAddress)
	}
	return a, nil
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

func widthName(w byte) string {
	switch w {
	case 'X':
		return "bit (X)"
	case 'B':
		return "byte (B)"
	case 'W':
		return "word (W)"
	}
	return "double word (D)"
}

// fits reports whether type t may sit at an address of the width.
func fits(width byte, t plc.DataType) bool {
	bits := t.Kind.Bits()
	switch width {
	case 'X':
		return t.Kind == plc.Bool
	case 'B':
		return bits == 8 || bits == 64 || t.Kind == plc.String
	case 'W':
		return bits == 16
	case 'D':
		return bits == 32
	}
	return false
}
