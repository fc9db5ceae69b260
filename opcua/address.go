package opcua

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/plc"
)

// Address is a parsed tag address: either a node id or a browse path
// from the Objects folder, which is resolved to a node id on the server.
//
// Syntax:
//
//	ns=2;s=Line1.Temp        string node id (namespace 2)
//	ns=3;i=1001              numeric node id
//	i=85                     numeric node id in namespace 0
//	ns=1;g=<GUID>, ns=1;b=<base64>
//	nsu=urn:wincc;s=Line1.Temp   node id in the namespace of that URI (also i=, g=, b=)
//	/2:Line1/Kiln/Temp       browse path from the Objects folder
//
// An index (ns=3) is only valid for one server configuration: a server
// may order its namespaces differently after a restart or an update. The
// namespace URI (nsu=, with ";" and "%" in it written %3B and %25) is
// looked up in the server's namespace array on every session, so the
// address keeps pointing at the same node.
//
// A browse path starts with "/"; each element is a browse name, with an
// optional "<namespace index>:" prefix. An element without a prefix is
// in the namespace of the element before it (namespace 0 for the first).
// A backslash makes the next character literal, so "/2:A\/B" is the one
// element "A/B".
type Address struct {
	// NodeID is set for node-id addresses. With NamespaceURI set, its
	// namespace index is 0 and the URI names the namespace.
	NodeID *ua.NodeID
	// NamespaceURI is the namespace of an nsu= address; empty otherwise.
	NamespaceURI string
	// Path is set for browse-path addresses.
	Path []*ua.QualifiedName
}

// String formats the address in the syntax ParseAddress reads.
func (a Address) String() string {
	if a.NodeID != nil && a.NamespaceURI != "" {
		return "nsu=" + escapeURI(a.NamespaceURI) + ";" + a.NodeID.String()
	}
	if a.NodeID != nil {
		return a.NodeID.String()
	}
	var b strings.Builder
	for _, q := range a.Path {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(q.NamespaceIndex)))
		b.WriteByte(':')
		for _, r := range q.Name {
			if r == '/' || r == '\\' || r == ':' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// AddressError reports an address that cannot be parsed, with the byte
// position of the problem.
type AddressError struct {
	Text   string
	Pos    int
	Reason string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("opcua: bad address %q at byte %d: %s", e.Text, e.Pos, e.Reason)
}

// ParseAddress parses a node id or a browse path (see Address).
func ParseAddress(s string) (Address, error) {
	if strings.TrimSpace(s) == "" {
		return Address{}, &AddressError{Text: s, Reason: "empty address"}
	}
	if strings.HasPrefix(s, "/") {
		p, err := parsePath(s)
		if err != nil {
			return Address{}, err
		}
		return Address{Path: p}, nil
	}
	rest, pos := s, 0
	uri := ""
	if strings.HasPrefix(rest, "nsu=") {
		semi := -1
		for _, k := range []string{";i=", ";s=", ";g=", ";b="} {
			if j := strings.Index(rest, k); j >= 0 && (semi < 0 || j < semi) {
				semi = j
			}
		}
		if semi < 0 {
			return Address{}, &AddressError{Text: s, Pos: len(s), Reason: "want ;i=, ;s=, ;g= or ;b= after the namespace URI"}
		}
		u, err := url.PathUnescape(rest[4:semi])
		if err != nil || u == "" {
			return Address{}, &AddressError{Text: s, Pos: 4, Reason: "the namespace URI is empty or badly %-escaped"}
		}
		uri, rest, pos = u, rest[semi+1:], semi+1
	} else if strings.HasPrefix(rest, "ns=") {
		semi := strings.IndexByte(rest, ';')
		if semi < 0 {
			return Address{}, &AddressError{Text: s, Pos: len(s), Reason: "want ';' after the namespace index"}
		}
		if _, err := strconv.ParseUint(rest[3:semi], 10, 16); err != nil || !allDigits(rest[3:semi]) {
			return Address{}, &AddressError{Text: s, Pos: 3, Reason: "namespace index must be 0..65535"}
		}
		rest, pos = rest[semi+1:], semi+1
	}
	if len(rest) < 3 || rest[1] != '=' || !strings.ContainsRune("isgb", rune(rest[0])) {
		return Address{}, &AddressError{Text: s, Pos: pos, Reason: "want i=<number>, s=<name>, g=<guid> or b=<base64> (or a /browse/path)"}
	}
	if uri != "" {
		id, err := ua.ParseNodeID("ns=0;" + rest)
		if err != nil {
			return Address{}, &AddressError{Text: s, Pos: pos + 2, Reason: err.Error()}
		}
		return Address{NodeID: id, NamespaceURI: uri}, nil
	}
	id, err := ua.ParseNodeID(s)
	if err != nil {
		return Address{}, &AddressError{Text: s, Pos: pos + 2, Reason: err.Error()}
	}
	return Address{NodeID: id}, nil
}

func parsePath(s string) ([]*ua.QualifiedName, error) {
	var (
		path []*ua.QualifiedName
		ns   uint16
	)
	i := 0
	for i < len(s) {
		// s[i] == '/'
		start := i + 1
		var name strings.Builder
		j := start
		for j < len(s) && s[j] != '/' {
			if s[j] == '\\' {
				if j+1 >= len(s) {
					return nil, &AddressError{Text: s, Pos: j, Reason: "backslash at end"}
				}
				j++
			}
			name.WriteByte(s[j])
			j++
		}
		elem := s[start:j]
		text := name.String()
		// A namespace prefix is digits followed by an unescaped colon.
		if k := strings.IndexByte(elem, ':'); k > 0 && !strings.Contains(elem[:k], `\`) && allDigits(elem[:k]) {
			n, err := strconv.ParseUint(elem[:k], 10, 16)
			if err != nil {
				return nil, &AddressError{Text: s, Pos: start, Reason: "namespace index out of range"}
			}
			ns = uint16(n)
			text = text[k+1:]
		}
		if text == "" {
			return nil, &AddressError{Text: s, Pos: start, Reason: "empty browse name"}
		}
		path = append(path, &ua.QualifiedName{NamespaceIndex: ns, Name: text})
		i = j
	}
	return path, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// CheckAddress validates a tag address for a tag of type t without a
// connection: the address parses and t has an OPC UA counterpart.
func CheckAddress(address string, t plc.DataType) error {
	if _, err := ParseAddress(address); err != nil {
		return err
	}
	if !t.Valid() || DataTypeID(t.Kind) == 0 {
		return fmt.Errorf("opcua: address %q: type %v has no OPC UA counterpart", address, t)
	}
	return nil
}
