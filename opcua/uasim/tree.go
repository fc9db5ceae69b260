package uasim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/opcua"
)

// tree indexes the served nodes by parent and browse name, for
// TranslateBrowsePathsToNodeIDs. It is built at Start and read-only after.
type tree struct {
	// children maps a parent node id to its children by browse name
	// ("2:Temp").
	children map[string]map[string]*ua.NodeID
}

func qnKey(q *ua.QualifiedName) string { return fmt.Sprintf("%d:%s", q.NamespaceIndex, q.Name) }

func (t *tree) link(parent, child *ua.NodeID, name *ua.QualifiedName) {
	m := t.children[parent.String()]
	if m == nil {
		m = make(map[string]*ua.NodeID)
		t.children[parent.String()] = m
	}
	m[qnKey(name)] = child
}

func typeDefRef(typeID uint32, name string) *ua.ReferenceDescription {
	return &ua.ReferenceDescription{
		ReferenceTypeID: ua.NewNumericNodeID(0, id.HasTypeDefinition),
		IsForward:       true,
		NodeID:          ua.NewNumericExpandedNodeID(0, typeID),
		BrowseName:      &ua.QualifiedName{Name: name},
		DisplayName:     &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name},
		NodeClass:       ua.NodeClassObjectType,
		TypeDefinition:  ua.NewNumericExpandedNodeID(0, 0),
	}
}

// build adds the tag namespace to srv: a folder per dotted name part and
// a variable per tag, under the Objects folder.
func (s *Server) build(srv *server.Server) *tree {
	nsIdx := s.cfg.NamespaceIndex
	var ns *server.NodeNameSpace
	for i := uint16(1); i <= nsIdx; i++ {
		switch {
		case i == nsIdx:
			ns = server.NewNodeNameSpace(srv, s.cfg.NamespaceURI)
		case int(i) <= len(s.cfg.Namespaces):
			server.NewNodeNameSpace(srv, s.cfg.Namespaces[i-1])
		default:
			server.NewNodeNameSpace(srv, fmt.Sprintf("%s:reserved%d", s.cfg.NamespaceURI, i))
		}
	}
	for _, u := range s.cfg.Namespaces[min(int(nsIdx), len(s.cfg.Namespaces)):] {
		server.NewNodeNameSpace(srv, u)
	}
	objects := srv.Node(ua.NewNumericNodeID(0, id.ObjectsFolder))
	tr := &tree{children: make(map[string]map[string]*ua.NodeID)}

	s.mu.RLock()
	entries := make([]*entry, 0, len(s.order))
	for _, n := range s.order {
		entries = append(entries, s.tags[n])
	}
	s.mu.RUnlock()
	// Shallow names first, so a tag "A" becomes the parent of "A.B"
	// rather than colliding with a folder "A".
	slices.SortStableFunc(entries, func(a, b *entry) int {
		return strings.Count(a.tag.Name, ".") - strings.Count(b.tag.Name, ".")
	})

	for _, e := range entries {
		parts := strings.Split(e.tag.Name, ".")
		parent := objects
		for j := 0; j < len(parts)-1; j++ {
			fid := ua.NewStringNodeID(nsIdx, strings.Join(parts[:j+1], "."))
			f := ns.Node(fid)
			if f == nil {
				qn := &ua.QualifiedName{NamespaceIndex: nsIdx, Name: parts[j]}
				f = server.NewNode(fid, server.Attributes{
					ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(ua.NodeClassObject)),
					ua.AttributeIDBrowseName:  server.DataValueFromValue(qn),
					ua.AttributeIDDisplayName: server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: parts[j]}),
				}, server.References{typeDefRef(id.FolderType, "FolderType")}, nil)
				ns.AddNode(f)
				parent.AddRef(f, server.RefTypeIDOrganizes, true)
				tr.link(parent.ID(), fid, qn)
			}
			parent = f
		}
		name := parts[len(parts)-1]
		qn := &ua.QualifiedName{NamespaceIndex: nsIdx, Name: name}
		level := ua.AccessLevelTypeCurrentRead
		if e.writable {
			level |= ua.AccessLevelTypeCurrentWrite
		}
		key := e.id.String()
		v := server.NewNode(e.id, server.Attributes{
			ua.AttributeIDNodeClass:       server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:      server.DataValueFromValue(qn),
			ua.AttributeIDDisplayName:     server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: name}),
			ua.AttributeIDDescription:     server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: e.tag.Description}),
			ua.AttributeIDDataType:        server.DataValueFromValue(ua.NewNumericNodeID(0, opcua.DataTypeID(e.tag.Type.Kind))),
			ua.AttributeIDValueRank:       server.DataValueFromValue(int32(-1)),
			ua.AttributeIDAccessLevel:     server.DataValueFromValue(byte(level)),
			ua.AttributeIDUserAccessLevel: server.DataValueFromValue(byte(level)),
		}, server.References{typeDefRef(id.BaseDataVariableType, "BaseDataVariableType")},
			func() *ua.DataValue { return s.dataValue(key) })
		ns.AddNode(v)
		parent.AddRef(v, server.RefTypeIDOrganizes, true)
		tr.link(parent.ID(), e.id, qn)
	}
	return tr
}
