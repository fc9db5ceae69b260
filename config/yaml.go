package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/internal/yamlconf"
)

var (
	unmarshalYAML = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType      = reflect.TypeFor[yaml.Node]()
)

// Document is a decoded YAML configuration file: it knows the line of
// every field, so the problems Validate finds after decoding are
// reported where they stand.
type Document struct {
	file  string
	lines map[string]int
	bad   map[string]bool
	// broken: the file is not YAML, so nothing was decoded and what
	// Validate says of the zero value is beside the point.
	broken bool
}

// DecodeYAML decodes the YAML file's data into the struct v points to,
// by the fields' yaml tags, and reports every problem of the file in one
// pass, each a *FieldError with file, line and YAML path: a syntax
// error (then nothing is decoded), unknown fields (`http: unknown field
// "lsten"`), values of the wrong kind (`groups[0].rate: "fast" is not a
// duration such as 500ms`). A field whose value is wrong keeps its zero
// value and the others are decoded all the same, so Validate can run on
// the result; pass its error to the Document's Locate.
//
//	doc, err := config.DecodeYAML("gw.yaml", data, &cfg)
//	err = errors.Join(err, doc.Locate(cfg.Validate()))
func DecodeYAML(file string, data []byte, v any) (*Document, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("config: DecodeYAML needs a non-nil pointer")
	}
	d := &Document{file: file, lines: map[string]int{}, bad: map[string]bool{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlconf.Split(err)
		d.broken = true
		return d, &FieldError{File: file, Line: line, Msg: "YAML syntax: " + msg, Err: err}
	}
	if len(root.Content) == 0 {
		return d, nil // an empty file: every default
	}
	top := yamlconf.Resolve(root.Content[0])
	yamlconf.Index(top, "", d.lines)
	dec := decoder{d: d}
	dec.value(top, rv.Elem(), "", top.Line)
	return d, dec.p.Err()
}

// Line returns the line of the field at path, or of its nearest parent
// the file has; 0 for a field the file leaves out entirely.
func (d *Document) Line(path string) int { return yamlconf.Nearest(d.lines, path) }

// Locate returns the problems of err (a Validate's, with paths relative
// to the file's top) with the file and their lines set, leaving out a
// problem at or below a field whose value DecodeYAML already reported,
// so a value of the wrong kind is not reported a second time as missing.
// Of a file that is not YAML at all it returns nil.
func (d *Document) Locate(err error) error {
	if d.broken {
		return nil
	}
	var keep []error
	for _, fe := range List(err) {
		if !d.reported(fe.Path) {
			keep = append(keep, fe)
		}
	}
	return Locate(errors.Join(keep...), d.file, d.Line)
}

// reported reports whether path or one of its parents had a decoding
// problem.
func (d *Document) reported(path string) bool {
	for p := path; p != ""; {
		if d.bad[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

type decoder struct {
	d *Document
	p Problems
}

func (dec *decoder) fail(path string, line int, format string, args ...any) {
	dec.note(path, line, format, args...)
	dec.d.bad[path] = true
}

// note records a problem without marking path as reported (an unknown
// field, whose parent's other fields may still be wrong).
func (dec *decoder) note(path string, line int, format string, args ...any) {
	fe := Errorf(path, format, args...)
	fe.File, fe.Line = dec.d.file, line
	dec.p.list = append(dec.p.list, fe)
}

// value decodes n into v; path and line are where n stands.
func (dec *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	n = yamlconf.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with nothing: the default
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalYAML) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			dec.fail(path, line, "%s", yamlMessage(err))
		}
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalText) {
		dec.scalar(n, v, path, line)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		dec.value(n, v.Elem(), path, line)
	case reflect.Interface:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			dec.fail(path, line, "%s", yamlMessage(err))
		}
	case reflect.Struct:
		if v.Type() == durationType {
			dec.scalar(n, v, path, line)
			return
		}
		dec.structure(n, v, path, line)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			dec.fail(path, line, "is %s, want a section of key: value settings", kindOf(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := Join(path, k.Value)
			key := reflect.New(v.Type().Key()).Elem()
			if err := setScalar(key, k.Value); err != nil {
				dec.fail(p, k.Line, "key %v", err)
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			dec.value(val, elem, p, k.Line)
			v.SetMapIndex(key, elem)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			dec.fail(path, line, "is %s, want a list", kindOf(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			dec.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), item.Line)
		}
		v.Set(s)
	default:
		dec.scalar(n, v, path, line)
	}
}

func (dec *decoder) structure(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		dec.fail(path, line, "is %s, want a section of key: value settings", kindOf(n))
		return
	}
	names, index := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := Join(path, k.Value)
		fi, ok := index[k.Value]
		switch first, dup := seen[k.Value]; {
		case !ok:
			// A misspelt field is reported at the field meant, which the
			// file then lacks; any other at its section, with the choice.
			if near := nearest(k.Value, names); near != "" {
				dec.fail(Join(path, near), k.Line, "unknown field %q", k.Value)
			} else {
				dec.note(path, k.Line, "unknown field %q (known: %s)", k.Value, strings.Join(names, ", "))
			}
			continue
		case dup:
			dec.fail(p, k.Line, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		dec.value(val, v.Field(fi), p, k.Line)
	}
}

func (dec *decoder) scalar(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode {
		dec.fail(path, line, "is %s, want a single value", kindOf(n))
		return
	}
	if err := setScalar(v, n.Value); err != nil {
		dec.fail(path, line, "%v", err)
	}
}

// kindOf says what a node is, in words.
func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// yamlMessage is the text of an error a yaml.Unmarshaler returned,
// without yaml.v3's "line N:" (the path and line are reported anyway).
func yamlMessage(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	_, msg := yamlconf.Split(err)
	return msg
}

// nearest returns the name in names that key is a likely misspelling of
// (at most two edits away, and fewer than half its letters), or "".
func nearest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(key, n); d < bestD && 2*d < len(n) {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the edit distance of a and b, a swap of two neighbouring
// letters counting as one edit (optimal string alignment).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
