package yamlconf

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Format formats a located problem as "file:line: field: msg". The line
// is left out when it is not positive, the file (and the line) when the
// file is empty, and the field when it is empty.
func Format(file string, line int, field, msg string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		if line > 0 {
			b.WriteString(":" + strconv.Itoa(line))
		}
		b.WriteString(": ")
	}
	if field != "" {
		b.WriteString(field + ": ")
	}
	b.WriteString(msg)
	return b.String()
}

// CutLine splits a go.yaml.in/yaml/v3 message of the form "line N: rest"
// into N and rest. ok is false, and msg comes back whole, when msg does
// not start so.
func CutLine(msg string) (line int, rest string, ok bool) {
	tail, found := strings.CutPrefix(msg, "line ")
	if !found {
		return 0, msg, false
	}
	i := 0
	for i < len(tail) && i < 9 && tail[i] >= '0' && tail[i] <= '9' {
		line = line*10 + int(tail[i]-'0')
		i++
	}
	if i == 0 || !strings.HasPrefix(tail[i:], ": ") {
		return 0, msg, false
	}
	return line, tail[i+2:], true
}

// Split returns the line and the message of a go.yaml.in/yaml/v3 error:
// the text without the "yaml: " and "unmarshal errors:" prefixes and
// without the leading "line N: ". line is 0 when the error names none.
// Of an error with several problems (a *yaml.TypeError), the line is the
// first one's and the message keeps the others as yaml.v3 lists them.
func Split(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if n, rest, ok := CutLine(msg); ok {
		return n, rest
	}
	return 0, msg
}

// Resolve follows an alias to the node it names; other nodes come back
// as they are.
func Resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// Walk follows path ("tags[3].signal.kind": keys joined by dots, list
// items by [index]) from doc, a document or its root node. It returns the
// node reached, the line of the deepest key or item found, and whether
// the whole path exists; when it does not, the node is the deepest one
// found.
func Walk(doc *yaml.Node, path string) (*yaml.Node, int, bool) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for part := range strings.SplitSeq(path, ".") {
		key, idx := part, -1
		if k, rest, ok := strings.Cut(part, "["); ok {
			key = k
			idx, _ = strconv.Atoi(strings.TrimSuffix(rest, "]"))
		}
		var next *yaml.Node
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return n, line, false
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return n, line, false
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return n, line, true
}

// NodeAt returns the node at path in doc (see Walk), or nil when the file
// does not have it.
func NodeAt(doc *yaml.Node, path string) *yaml.Node {
	n, _, ok := Walk(doc, path)
	if !ok {
		return nil
	}
	return n
}

// NodeLine returns the line of the field at path in doc (see Walk), or of
// the deepest part of the path the file has.
func NodeLine(doc *yaml.Node, path string) int {
	_, line, _ := Walk(doc, path)
	return line
}

// Index records in lines the line of every mapping key and sequence item
// below n, by path: "a.b" for keys, "a[2]" for items, each prefixed with
// path (the path of n; "" for the root).
func Index(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			lines[p] = n.Content[i].Line
			Index(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			Index(c, p, lines)
		}
	}
}

// Nearest returns the line of path in lines (as Index records them), or
// of its nearest parent there: for "a.b[2].c" it tries "a.b[2].c",
// "a.b[2]", "a.b" and "a". It returns 0 when none is there, as for a
// field the file leaves to its default.
func Nearest(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}
