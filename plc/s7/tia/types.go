package tia

import (
	"strconv"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// elementary describes an elementary S7 type: its size in memory and the
// plc type a tag of it gets (zero when none carries its value).
type elementary struct {
	bytes int // 0 for BOOL, which takes one bit
	plc   plc.DataType
}

// elementaries are the elementary types by upper-case name. Types
// without a plc kind of their own map onto the integer of their layout:
// TIME (ms) onto DINT, DATE (days since 1990) onto UINT, TIME_OF_DAY (ms
// since midnight) onto UDINT, S5TIME (BCD) and WCHAR onto WORD, LTIME (ns)
// onto LINT. DATE_AND_TIME (BCD) and DTL have no plc type: laid out, not
// imported.
var elementaries = map[string]elementary{
	"BOOL":          {0, plc.TypeBool},
	"BYTE":          {1, plc.TypeByte},
	"CHAR":          {1, plc.DataType{Kind: plc.Char}},
	"SINT":          {1, plc.DataType{Kind: plc.SInt}},
	"USINT":         {1, plc.DataType{Kind: plc.USInt}},
	"WORD":          {2, plc.TypeWord},
	"INT":           {2, plc.TypeInt},
	"UINT":          {2, plc.DataType{Kind: plc.UInt}},
	"S5TIME":        {2, plc.TypeWord},
	"WCHAR":         {2, plc.TypeWord},
	"DATE":          {2, plc.DataType{Kind: plc.UInt}},
	"DWORD":         {4, plc.TypeDWord},
	"DINT":          {4, plc.TypeDInt},
	"UDINT":         {4, plc.DataType{Kind: plc.UDInt}},
	"REAL":          {4, plc.TypeReal},
	"TIME":          {4, plc.TypeDInt},
	"TIME_OF_DAY":   {4, plc.DataType{Kind: plc.UDInt}},
	"TOD":           {4, plc.DataType{Kind: plc.UDInt}},
	"LWORD":         {8, plc.DataType{Kind: plc.LWord}},
	"LINT":          {8, plc.TypeLInt},
	"ULINT":         {8, plc.DataType{Kind: plc.ULInt}},
	"LREAL":         {8, plc.TypeLReal},
	"LTIME":         {8, plc.TypeLInt},
	"DATE_AND_TIME": {8, plc.DataType{}},
	"DT":            {8, plc.DataType{}},
	"DTL":           {12, plc.DataType{}},
}

// maxBlock is the largest non-optimized data block, in bytes.
const maxBlock = 65536

// maxVars bounds the variables one source may expand to (arrays count
// each element).
const maxVars = 65536

type typeKind uint8

const (
	kElem typeKind = iota
	kArray
	kStruct
)

// typ is a declared type with its layout.
type typ struct {
	kind typeKind
	name string // as written: "Int", "String[20]", "Array[1..3] of Int", "Struct", "\"Motor\""
	// size is the bytes the type occupies; 0 for BOOL (one bit).
	size int
	// word says the type starts at an even byte (16-bit and larger,
	// strings, arrays, structs); otherwise at the next byte, or bit for BOOL.
	word bool
	plc  plc.DataType // kElem only

	// kArray
	elem *typ
	dims []dim
	n    int // elements

	// kStruct
	fields []field
}

type dim struct{ lo, hi int }

type field struct {
	name string
	t    *typ
	line int
	off  int // bits from the start of the struct
}

func (t *typ) isBool() bool { return t.kind == kElem && t.size == 0 }

// elemType returns the elementary type called name (upper case), with
// the string length for STRING/WSTRING (-1: none given).
func elemType(name, written string, strLen int) (*typ, bool) {
	switch name {
	case "STRING":
		if strLen < 0 {
			strLen = plc.DefaultStringLen
		}
		return &typ{kind: kElem, name: written, size: strLen + 2, word: true, plc: plc.StringType(strLen)}, true
	case "WSTRING":
		if strLen < 0 {
			strLen = plc.DefaultStringLen
		}
		return &typ{kind: kElem, name: written, size: 4 + 2*strLen, word: true}, true
	}
	e, ok := elementaries[name]
	if !ok {
		return nil, false
	}
	return &typ{kind: kElem, name: written, size: e.bytes, word: e.bytes >= 2, plc: e.plc}, true
}

// newArray lays out an array of elem over dims, or says why it cannot.
func newArray(written string, dims []dim, elem *typ) (*typ, string) {
	n := 1
	for _, d := range dims {
		n *= d.hi - d.lo + 1
		if n > maxBlock*8 {
			return nil, "array too large for a data block"
		}
	}
	var size int
	switch {
	case elem.isBool():
		size = (n + 7) / 8
	case elem.word:
		size = n * even(elem.size)
	default:
		size = n * elem.size
	}
	if size > maxBlock {
		return nil, "array too large for a data block"
	}
	return &typ{kind: kArray, name: written, size: even(size), word: true, elem: elem, dims: dims, n: n}, ""
}

// stride returns the distance in bits between an array's elements.
func (t *typ) stride() int {
	switch {
	case t.elem.isBool():
		return 1
	case t.elem.word:
		return 8 * even(t.elem.size)
	}
	return 8 * t.elem.size
}

// index formats the i-th element's index: "[3]", "[0,2]".
func (t *typ) index(i int) string {
	idx := make([]string, len(t.dims))
	for k := len(t.dims) - 1; k >= 0; k-- {
		d := t.dims[k]
		span := d.hi - d.lo + 1
		idx[k] = strconv.Itoa(d.lo + i%span)
		i /= span
	}
	return "[" + strings.Join(idx, ",") + "]"
}

// layout places a struct's fields as the CPU does and sets its size;
// the error names the first field past the block limit.
func (t *typ) layout() (int, bool) {
	pos := 0 // in bits
	for i := range t.fields {
		f := &t.fields[i]
		switch {
		case f.t.isBool():
		case f.t.word:
			pos = ceil(pos, 16)
		default:
			pos = ceil(pos, 8)
		}
		f.off = pos
		if f.t.isBool() {
			pos++
		} else {
			pos += 8 * f.t.size
		}
		if pos > 8*maxBlock {
			return i, false
		}
	}
	t.size = ceil(pos, 16) / 8
	return 0, true
}

func ceil(n, m int) int { return (n + m - 1) / m * m }

func even(n int) int { return ceil(n, 2) }
