package plc

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the elementary type of a tag or value, named as in IEC 61131-3
// and the Siemens S7 world. The zero Kind is invalid.
type Kind uint8

// The elementary kinds. Bool through String are the S7/IEC types; DateTime
// and ByteString make room for OPC UA variables that have no S7 equivalent.
const (
	KindInvalid Kind = iota
	Bool
	Byte
	Char
	SInt
	USInt
	Word
	Int
	UInt
	DWord
	DInt
	UDInt
	Real
	LWord
	LInt
	ULInt
	LReal
	String
	DateTime
	ByteString
)

var kindNames = [...]string{
	KindInvalid: "INVALID",
	Bool:        "BOOL",
	Byte:        "BYTE",
	Char:        "CHAR",
	SInt:        "SINT",
	USInt:       "USINT",
	Word:        "WORD",
	Int:         "INT",
	UInt:        "UINT",
	DWord:       "DWORD",
	DInt:        "DINT",
	UDInt:       "UDINT",
	Real:        "REAL",
	LWord:       "LWORD",
	LInt:        "LINT",
	ULInt:       "ULINT",
	LReal:       "LREAL",
	String:      "STRING",
	DateTime:    "DATETIME",
	ByteString:  "BYTESTRING",
}

// String returns the kind's IEC name, e.g. "DINT".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// IsSigned reports whether k is a signed integer kind.
func (k Kind) IsSigned() bool {
	switch k {
	case SInt, Int, DInt, LInt:
		return true
	}
	return false
}

// IsUnsigned reports whether k is an unsigned integer or bit-string kind
// (BYTE, WORD, DWORD, LWORD and the U… integers; CHAR counts as a byte).
func (k Kind) IsUnsigned() bool {
	switch k {
	case Byte, Char, USInt, Word, UInt, DWord, UDInt, LWord, ULInt:
		return true
	}
	return false
}

// IsInteger reports whether k holds whole numbers.
func (k Kind) IsInteger() bool { return k.IsSigned() || k.IsUnsigned() }

// IsFloat reports whether k is REAL or LREAL.
func (k Kind) IsFloat() bool { return k == Real || k == LReal }

// IsNumeric reports whether values of k can be compared by magnitude
// (integers and floats; BOOL is not numeric).
func (k Kind) IsNumeric() bool { return k.IsInteger() || k.IsFloat() }

// Bits returns the width of k in bits: 1 for BOOL, 8 to 64 for numbers and
// 0 for the variable-width kinds (STRING, DATETIME, BYTESTRING).
func (k Kind) Bits() int {
	switch k {
	case Bool:
		return 1
	case Byte, Char, SInt, USInt:
		return 8
	case Word, Int, UInt:
		return 16
	case DWord, DInt, UDInt, Real:
		return 32
	case LWord, LInt, ULInt, LReal:
		return 64
	}
	return 0
}

// DefaultStringLen is the capacity of a STRING declared without a length,
// as in S7 (STRING = STRING[254]).
const DefaultStringLen = 254

// DataType is a tag's declared type: a Kind plus, for STRING, its capacity
// in characters. The zero DataType is invalid.
type DataType struct {
	Kind Kind
	// Len is the capacity of a STRING in characters (1..254); zero for
	// every other kind.
	Len int
}

// Common data types, for brevity in code and tests.
var (
	TypeBool  = DataType{Kind: Bool}
	TypeByte  = DataType{Kind: Byte}
	TypeWord  = DataType{Kind: Word}
	TypeInt   = DataType{Kind: Int}
	TypeDWord = DataType{Kind: DWord}
	TypeDInt  = DataType{Kind: DInt}
	TypeReal  = DataType{Kind: Real}
	TypeLInt  = DataType{Kind: LInt}
	TypeLReal = DataType{Kind: LReal}
)

// StringType returns the type STRING[n].
func StringType(n int) DataType { return DataType{Kind: String, Len: n} }

// Valid reports whether t names a usable type.
func (t DataType) Valid() bool {
	if t.Kind == KindInvalid || int(t.Kind) >= len(kindNames) {
		return false
	}
	if t.Kind == String {
		return t.Len >= 1 && t.Len <= DefaultStringLen
	}
	return t.Len == 0
}

// Size returns the number of bytes a value of t occupies in S7 memory:
// 1 for BOOL (it occupies one bit of that byte), the width for numbers,
// n+2 for STRING[n] (max-length and actual-length header bytes), and 0 for
// kinds without a fixed memory layout.
func (t DataType) Size() int {
	if t.Kind == String {
		return t.Len + 2
	}
	b := t.Kind.Bits()
	if b == 1 {
		return 1
	}
	return b / 8
}

// String returns the type as engineers write it: "INT", "STRING[20]".
func (t DataType) String() string {
	if t.Kind == String {
		return "STRING[" + strconv.Itoa(t.Len) + "]"
	}
	return t.Kind.String()
}

// MarshalText implements encoding.TextMarshaler.
func (t DataType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("plc: invalid data type %v", t)
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler using ParseDataType.
func (t *DataType) UnmarshalText(b []byte) error {
	p, err := ParseDataType(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// typeAliases maps other spellings engineers and OPC UA use onto kinds.
var typeAliases = map[string]Kind{
	"BOOLEAN": Bool,
	"INT8":    SInt,
	"UINT8":   USInt,
	"INT16":   Int,
	"UINT16":  UInt,
	"INT32":   DInt,
	"UINT32":  UDInt,
	"INT64":   LInt,
	"UINT64":  ULInt,
	"FLOAT":   Real,
	"DOUBLE":  LReal,
	"SBYTE":   SInt,
}

// ParseDataType parses a type name case-insensitively: the IEC names
// ("BOOL", "dint", "LReal"), "STRING" (= STRING[254]) and "STRING[n]",
// and the OPC UA names (Boolean, Int16, UInt32, Float, Double, DateTime,
// ByteString). Surrounding spaces are ignored.
func ParseDataType(s string) (DataType, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "" {
		return DataType{}, &TypeError{Text: s, Reason: "empty type name"}
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 { // keep ToUpper from mapping "ſtring" onto STRING
			return DataType{}, &TypeError{Text: s, Reason: "unknown type"}
		}
	}
	if strings.HasPrefix(u, "STRING") {
		rest := strings.TrimSpace(u[len("STRING"):])
		if rest == "" {
			return StringType(DefaultStringLen), nil
		}
		if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
			return DataType{}, &TypeError{Text: s, Reason: "want STRING or STRING[n]"}
		}
		n, err := strconv.Atoi(strings.TrimSpace(rest[1 : len(rest)-1]))
		if err != nil || n < 1 || n > DefaultStringLen {
			return DataType{}, &TypeError{Text: s, Reason: fmt.Sprintf("string length must be 1..%d", DefaultStringLen)}
		}
		return StringType(n), nil
	}
	for k := Bool; int(k) < len(kindNames); k++ {
		if k != String && kindNames[k] == u {
			return DataType{Kind: k}, nil
		}
	}
	if k, ok := typeAliases[u]; ok {
		return DataType{Kind: k}, nil
	}
	return DataType{}, &TypeError{Text: s, Reason: "unknown type"}
}

// TypeError reports a type name that could not be parsed.
type TypeError struct {
	Text   string // the text as given
	Reason string
}

// Error names the text given and why it is not a type.
func (e *TypeError) Error() string {
	return fmt.Sprintf("plc: bad data type %q: %s", e.Text, e.Reason)
}
