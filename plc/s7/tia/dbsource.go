package tia

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// DataBlock is a global data block read from its source, laid out as the
// CPU lays out a block without optimized access.
type DataBlock struct {
	// Name is the block's name as declared, without quotes: "Kiln", or
	// "DB10" for DATA_BLOCK DB 10.
	Name string
	// Number is the block's number when the source gives it (DATA_BLOCK
	// DB 10); 0 when the source names the block symbolically.
	Number int
	// Size is the block's size in bytes.
	Size int
	// Vars are the block's elementary variables in declaration order,
	// array elements and struct members expanded.
	Vars []Var
	// Line is the line of DATA_BLOCK.
	Line int
}

// Var is one elementary variable of a data block.
type Var struct {
	// Path names the variable within the block: "Speed", "Zone.Power",
	// "Temps[2]", "Motors[0].On".
	Path string
	// Type is the variable's plc type; zero for the types no plc type
	// carries (DTL, DATE_AND_TIME, WSTRING), which are laid out but not
	// imported.
	Type plc.DataType
	// TypeName is the elementary type as the source writes it: "Int",
	// "String[20]".
	TypeName string
	// Offset is the variable's byte offset, Bit its bit (0..7) for a BOOL.
	Offset, Bit int
	// Comment is the // or (* *) comment on the variable's line.
	Comment string
	// Line is the line the variable is declared on.
	Line int
}

// Address returns the variable's S7 address in data block db, as
// package s7 reads it: DB1.DBX0.3 for a BOOL, DBB for 8- and 64-bit
// types and strings, DBW for 16-bit and DBD for 32-bit types.
func (v Var) Address(db int) string {
	prefix := "DB" + strconv.Itoa(db) + ".DB"
	if v.Type.Kind == plc.Bool {
		return prefix + "X" + strconv.Itoa(v.Offset) + "." + strconv.Itoa(v.Bit)
	}
	w := "B"
	switch v.Type.Kind.Bits() {
	case 16:
		w = "W"
	case 32:
		w = "D"
	}
	return prefix + w + strconv.Itoa(v.Offset)
}

// Result is what an import produces: the tags, and the entries that were
// read but have no tag, each an *Error wrapping ErrUnsupported that says
// where and why.
type Result struct {
	Tags    []plc.Tag
	Skipped []*Error
}

// Tags returns a tag for each variable of the block with a plc type,
// named "<block>.<path>", on device, at its address in data block number
// (0: the block's own Number; ErrNoNumber when that is 0 too). Tags are
// read-only; the comment becomes the description. The other variables
// are listed in Skipped.
func (b *DataBlock) Tags(file, device string, number int) (Result, error) {
	if number == 0 {
		number = b.Number
	}
	if number < 1 || number > 65535 {
		return Result{}, &Error{File: file, Line: b.Line, Field: b.Name, Msg: "the source gives no block number (name it, e.g. -db 10)", Err: ErrNoNumber}
	}
	var r Result
	for _, v := range b.Vars {
		if v.Type.Kind == plc.KindInvalid {
			r.Skipped = append(r.Skipped, &Error{File: file, Line: v.Line, Field: v.Path, Msg: fmt.Sprintf("type %s has no plc type", v.TypeName), Err: ErrUnsupported})
			continue
		}
		r.Tags = append(r.Tags, plc.Tag{
			Name:        b.Name + "." + v.Path,
			Device:      device,
			Address:     v.Address(number),
			Type:        v.Type,
			Description: v.Comment,
		})
	}
	return r, nil
}

// ParseDBSource reads the data blocks of a DB source (.db, .scl) as TIA
// Portal and STEP 7 write it: DATA_BLOCK … STRUCT … END_STRUCT; BEGIN …
// END_DATA_BLOCK, or VAR … END_VAR, with the user types (TYPE … END_TYPE)
// they use declared in the same text. file names the source in errors.
// A block with S7_Optimized_Access := 'TRUE' has no fixed offsets and is
// an error (ErrOptimized); so are instance blocks of function blocks.
// The first syntax problem ends the parse; every error is an *Error with
// the file, line and variable.
func ParseDBSource(file string, src []byte) ([]*DataBlock, error) {
	p := &parser{file: file, lx: newLexer(string(src)), types: map[string]*typ{}}
	p.advance()
	var blocks []*DataBlock
	for p.err == nil && p.tok.kind != tokEOF {
		switch kw := p.keyword(); kw {
		case "TYPE":
			p.typeDecl()
		case "DATA_BLOCK":
			if b := p.dataBlock(); b != nil {
				blocks = append(blocks, b)
			}
		case "FUNCTION_BLOCK", "FUNCTION", "ORGANIZATION_BLOCK":
			p.fail(p.tok.line, "", "a %s is not a data block", strings.ToLower(kw))
		default:
			p.fail(p.tok.line, "", "want DATA_BLOCK or TYPE, not %q", p.tok.text)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	if len(blocks) == 0 {
		return nil, &Error{File: file, Line: 1, Msg: "no DATA_BLOCK in the source", Err: ErrSyntax}
	}
	return blocks, nil
}

type parser struct {
	file  string
	lx    *lexer
	tok   token
	types map[string]*typ // user types by upper-case name
	err   *Error
	nvars int
}

func (p *parser) fail(line int, field, format string, args ...any) {
	if p.err == nil {
		p.err = &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrSyntax}
	}
}

func (p *parser) advance() {
	if p.err != nil {
		p.tok = token{kind: tokEOF, line: p.tok.line}
		return
	}
	p.tok = p.lx.next()
	if p.lx.err != "" {
		p.fail(p.lx.errLine, "", "%s", p.lx.err)
		p.tok = token{kind: tokEOF, line: p.tok.line}
	}
}

// keyword returns the current token upper-cased when it is an identifier.
func (p *parser) keyword() string {
	if p.tok.kind != tokIdent {
		return ""
	}
	return strings.ToUpper(p.tok.text)
}

func (p *parser) isSym(s string) bool { return p.tok.kind == tokSym && p.tok.text == s }

func (p *parser) expectSym(s, field string) bool {
	if !p.isSym(s) {
		p.fail(p.tok.line, field, "want %q, not %s", s, p.describe())
		return false
	}
	p.advance()
	return true
}

func (p *parser) describe() string {
	if p.tok.kind == tokEOF {
		return "the end of the source"
	}
	return strconv.Quote(p.tok.text)
}

// name reads a block, type or variable name: an identifier or "quoted".
func (p *parser) name(what string) (string, int) {
	t := p.tok
	if t.kind != tokIdent && t.kind != tokQuoted || t.text == "" {
		p.fail(t.line, "", "want the %s's name, not %s", what, p.describe())
		return "", t.line
	}
	p.advance()
	return t.text, t.line
}

// attributes reads { name := 'value'; … } and reports whether it says
// S7_Optimized_Access := 'TRUE'.
func (p *parser) attributes() (optimized bool) {
	p.advance() // {
	for p.err == nil && !p.isSym("}") {
		if p.tok.kind == tokEOF {
			p.fail(p.tok.line, "", "attributes { not closed")
			return false
		}
		if p.keyword() == "S7_OPTIMIZED_ACCESS" {
			p.advance()
			if p.isSym(":=") {
				p.advance()
				optimized = p.tok.kind == tokString && strings.EqualFold(p.tok.text, "TRUE")
			}
			continue
		}
		p.advance()
	}
	p.advance()
	return optimized
}

// header skips a block's or type's header (TITLE, VERSION, AUTHOR,
// NON_RETAIN, …) up to the declaration, and reports attributes.
func (p *parser) header(what string) (optimized bool) {
	for p.err == nil {
		switch kw := p.keyword(); {
		case p.isSym("{"):
			optimized = p.attributes() || optimized
		case kw == "TITLE" || kw == "VERSION" || kw == "AUTHOR" || kw == "FAMILY" || kw == "NAME":
			line := p.tok.line
			for p.tok.kind != tokEOF && p.tok.line == line {
				p.advance()
			}
		case kw == "NON_RETAIN" || kw == "RETAIN" || kw == "READ_ONLY" || kw == "KNOW_HOW_PROTECT" || kw == "UNLINKED":
			p.advance()
		case p.tok.kind == tokEOF:
			p.fail(p.tok.line, "", "the %s has no declaration (STRUCT … END_STRUCT)", what)
			return
		default:
			return
		}
	}
	return
}

func (p *parser) typeDecl() {
	line := p.tok.line
	p.advance()
	name, _ := p.name("type")
	p.header("type")
	if p.err != nil {
		return
	}
	if p.keyword() != "STRUCT" {
		p.fail(p.tok.line, name, "want STRUCT, not %s", p.describe())
		return
	}
	t := p.structType(name, "END_STRUCT")
	if p.isSym(";") {
		p.advance()
	}
	if p.keyword() != "END_TYPE" {
		p.fail(p.tok.line, name, "want END_TYPE, not %s", p.describe())
		return
	}
	p.advance()
	if p.err != nil {
		return
	}
	key := strings.ToUpper(name)
	if _, dup := p.types[key]; dup {
		p.fail(line, name, "type declared twice")
		return
	}
	t.name = strconv.Quote(name)
	p.types[key] = t
}

func (p *parser) dataBlock() *DataBlock {
	b := &DataBlock{Line: p.tok.line}
	p.advance()
	b.Name, _ = p.name("data block")
	if strings.HasPrefix(strings.ToUpper(b.Name), "DB") && p.err == nil {
		digits := b.Name[2:]
		if digits == "" && p.tok.kind == tokNumber {
			digits = p.tok.text
			p.advance()
		}
		if n, err := strconv.Atoi(digits); err == nil && n >= 1 && n <= 65535 {
			b.Number, b.Name = n, "DB"+strconv.Itoa(n)
		}
	}
	optimized := p.header("data block")
	if p.err != nil {
		return nil
	}
	if optimized {
		p.err = &Error{File: p.file, Line: b.Line, Field: b.Name, Msg: "optimized block access: the CPU places its variables freely, so they have no offsets; switch Optimized block access off or read them over OPC UA", Err: ErrOptimized}
		return nil
	}
	var t *typ
	switch kw := p.keyword(); {
	case kw == "STRUCT":
		t = p.structType(b.Name, "END_STRUCT")
		if p.isSym(";") {
			p.advance()
		}
	case kw == "VAR":
		t = p.structType(b.Name, "END_VAR")
	case p.tok.kind == tokQuoted:
		ut, ok := p.types[strings.ToUpper(p.tok.text)]
		if !ok {
			p.fail(p.tok.line, b.Name, "block of type %q: that type is not declared in the source (an instance block of a function block, or a user type whose TYPE … END_TYPE is missing)", p.tok.text)
			return nil
		}
		t = ut
		p.advance()
	default:
		p.fail(p.tok.line, b.Name, "want STRUCT, VAR or the block's type, not %s", p.describe())
	}
	// The initial values between BEGIN and END_DATA_BLOCK do not change
	// the layout.
	for p.err == nil && p.keyword() != "END_DATA_BLOCK" {
		if p.tok.kind == tokEOF {
			p.fail(b.Line, b.Name, "END_DATA_BLOCK is missing")
		}
		p.advance()
	}
	p.advance()
	if p.err != nil {
		return nil
	}
	b.Size = t.size
	p.emit(b, t, 0, "")
	return b
}

// structType reads members up to end (END_STRUCT or END_VAR, whose token
// is consumed) and lays them out.
func (p *parser) structType(owner, end string) *typ {
	p.advance() // STRUCT or VAR
	t := &typ{kind: kStruct, name: "Struct", word: true}
	seen := map[string]bool{}
	for p.err == nil && p.keyword() != end {
		name, line := p.name("variable")
		if p.err != nil {
			return t
		}
		up := strings.ToUpper(name)
		if seen[up] {
			p.fail(line, name, "variable declared twice in %s", owner)
			return t
		}
		seen[up] = true
		if p.isSym("{") {
			p.attributes()
		}
		if p.keyword() == "AT" {
			p.fail(p.tok.line, name, "AT overlays are not supported")
			return t
		}
		if !p.expectSym(":", name) {
			return t
		}
		ft := p.typeSpec(name)
		if p.err != nil {
			return t
		}
		if p.isSym(":=") {
			p.skipInit(name)
		}
		// END_STRUCT may end a nested struct without a semicolon.
		if p.isSym(";") {
			p.advance()
		} else if ft.kind != kStruct {
			p.fail(p.tok.line, name, "want \";\", not %s", p.describe())
			return t
		}
		t.fields = append(t.fields, field{name: name, t: ft, line: line})
	}
	p.advance() // end
	if i, ok := t.layout(); !ok {
		p.fail(t.fields[i].line, t.fields[i].name, "%s is larger than %d bytes, the limit of a data block", owner, maxBlock)
	}
	return t
}

// skipInit skips an initial value (":= 5", ":= [3(0)]") up to the ";".
func (p *parser) skipInit(name string) {
	depth := 0
	for p.err == nil {
		switch {
		case p.tok.kind == tokEOF:
			p.fail(p.tok.line, name, "the initial value has no end (want \";\")")
			return
		case p.isSym("[") || p.isSym("("):
			depth++
		case p.isSym("]") || p.isSym(")"):
			depth--
		case p.isSym(";") && depth <= 0:
			return
		}
		p.advance()
	}
}

// typeSpec reads a variable's type.
func (p *parser) typeSpec(name string) *typ {
	t := p.tok
	switch kw := p.keyword(); {
	case t.kind == tokQuoted:
		p.advance()
		ut, ok := p.types[strings.ToUpper(t.text)]
		if !ok {
			p.fail(t.line, name, "unknown type %q (declare it with TYPE … END_TYPE before its use)", t.text)
			return nil
		}
		return ut
	case kw == "STRUCT":
		return p.structType(name, "END_STRUCT")
	case kw == "ARRAY":
		return p.arrayType(name)
	case kw == "STRING" || kw == "WSTRING":
		p.advance()
		n := -1
		written := t.text
		if p.isSym("[") {
			p.advance()
			v, err := strconv.Atoi(p.tok.text)
			if p.tok.kind != tokNumber || err != nil || v < 1 || v > plc.DefaultStringLen {
				p.fail(p.tok.line, name, "string length %s: want 1..%d", p.describe(), plc.DefaultStringLen)
				return nil
			}
			n = v
			p.advance()
			if !p.expectSym("]", name) {
				return nil
			}
			written += "[" + strconv.Itoa(n) + "]"
		}
		et, _ := elemType(kw, written, n)
		return et
	case t.kind == tokIdent:
		et, ok := elemType(kw, t.text, -1)
		if !ok {
			p.fail(t.line, name, "unknown type %q", t.text)
			return nil
		}
		p.advance()
		return et
	}
	p.fail(t.line, name, "want a type, not %s", p.describe())
	return nil
}

// arrayType reads Array[lo..hi, …] of T.
func (p *parser) arrayType(name string) *typ {
	line := p.tok.line
	p.advance()
	if !p.expectSym("[", name) {
		return nil
	}
	var dims []dim
	for {
		lo := p.bound(name)
		if !p.expectSym("..", name) {
			return nil
		}
		hi := p.bound(name)
		if p.err != nil {
			return nil
		}
		if hi < lo {
			p.fail(line, name, "array bounds %d..%d: the upper bound is below the lower", lo, hi)
			return nil
		}
		dims = append(dims, dim{lo, hi})
		if !p.isSym(",") {
			break
		}
		p.advance()
	}
	if !p.expectSym("]", name) {
		return nil
	}
	if p.keyword() != "OF" {
		p.fail(p.tok.line, name, "want OF after the array bounds, not %s", p.describe())
		return nil
	}
	p.advance()
	elem := p.typeSpec(name)
	if p.err != nil {
		return nil
	}
	var b strings.Builder
	b.WriteString("Array[")
	for i, d := range dims {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d..%d", d.lo, d.hi)
	}
	b.WriteString("] of " + elem.name)
	at, why := newArray(b.String(), dims, elem)
	if why != "" {
		p.fail(line, name, "%s", why)
		return nil
	}
	return at
}

func (p *parser) bound(name string) int {
	t := p.tok
	v, err := strconv.Atoi(t.text)
	if t.kind != tokNumber || err != nil || v < -32768 || v > 32767 {
		p.fail(t.line, name, "array bound %s: want a whole number -32768..32767 (constants are not supported)", p.describe())
		return 0
	}
	p.advance()
	return v
}

// countVars counts the variables t expands to, failing past maxVars.
func (p *parser) countVars(t *typ) {
	var n func(t *typ) int
	n = func(t *typ) int {
		switch t.kind {
		case kArray:
			return t.n * n(t.elem)
		case kStruct:
			s := 0
			for _, f := range t.fields {
				s += n(f.t)
			}
			return s
		}
		return 1
	}
	if p.nvars += n(t); p.nvars > maxVars {
		p.fail(p.tok.line, "", "more than %d variables", maxVars)
	}
}

// emit appends the elementary variables of t, placed at bit pos.
func (p *parser) emit(b *DataBlock, t *typ, pos int, path string) {
	if t.kind == kStruct && path == "" {
		p.countVars(t)
		if p.err != nil {
			return
		}
	}
	p.walk(b, t, pos, path, 0)
}

func (p *parser) walk(b *DataBlock, t *typ, pos int, path string, line int) {
	switch t.kind {
	case kElem:
		b.Vars = append(b.Vars, Var{Path: path, Type: t.plc, TypeName: t.name, Offset: pos / 8, Bit: pos % 8, Line: line, Comment: p.lx.comments[line]})
	case kArray:
		stride := t.stride()
		for i := 0; i < t.n; i++ {
			p.walk(b, t.elem, pos+i*stride, path+t.index(i), line)
		}
	case kStruct:
		for _, f := range t.fields {
			sub := f.name
			if path != "" {
				sub = path + "." + f.name
			}
			p.walk(b, f.t, pos+f.off, sub, f.line)
		}
	}
}
