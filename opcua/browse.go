package opcua

import (
	"context"
	"fmt"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Node is one node found by Browse.
type Node struct {
	// NodeID is the node's id, "ns=2;s=Line1.Temp".
	NodeID string `json:"nodeid"`
	// ExpandedNodeID is the node's id with its namespace URI instead of
	// the index, "nsu=urn:kiln:uasim;s=Line1.Temp": the form that stays
	// valid when the server orders its namespaces differently.
	ExpandedNodeID string `json:"expanded_nodeid,omitempty"`
	// BrowseName is the node's browse name with its namespace index,
	// "2:Temp".
	BrowseName string `json:"browse_name"`
	// Class is the node class: "Object", "Variable", "Method", ….
	Class string `json:"class"`
	// Type is a variable's data type: the plc type name when kiln maps it
	// ("LREAL", "STRING[254]"), else the OPC UA name; empty for other
	// classes.
	Type string `json:"type"`
	// Depth is 1 for the root's children, 2 for theirs, ….
	Depth int `json:"depth"`
	// Path is the node's browse names below the root, without namespace
	// indexes, joined by dots: "Line1.Kiln.Temp".
	Path string `json:"path"`
	// Access is a variable's access for the session's user, "ro" or "rw"
	// (its UserAccessLevel allows writes); empty for other classes.
	Access string `json:"access,omitempty"`
	// Description is the node's description, when it has one.
	Description string `json:"description,omitempty"`
}

// Browse walks the hierarchical references from root (the Objects folder
// when nil) down to depth levels (0: no limit; each node is visited
// once, so cycles end) and returns the nodes in breadth-first order.
func (c *Client) Browse(ctx context.Context, root *ua.NodeID, depth int) ([]Node, error) {
	if root == nil {
		root = ua.NewNumericNodeID(0, id.ObjectsFolder)
	}
	cn, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{root.String(): true}
	level := []*ua.NodeID{root}
	paths := []string{""}
	var out []Node
	var vars []int
	for d := 1; len(level) > 0 && (depth <= 0 || d <= depth); d++ {
		var next []*ua.NodeID
		var nextPaths []string
		for k, n := range level {
			refs, err := c.browseOne(ctx, cn, n)
			if err != nil {
				return out, err
			}
			for _, r := range refs {
				if r.NodeID == nil || r.NodeID.ServerIndex != 0 || r.NodeID.NodeID == nil {
					continue
				}
				nid := r.NodeID.NodeID
				if seen[nid.String()] {
					continue
				}
				seen[nid.String()] = true
				bn, path := "", paths[k]
				if r.BrowseName != nil {
					bn = fmt.Sprintf("%d:%s", r.BrowseName.NamespaceIndex, r.BrowseName.Name)
					if path != "" {
						path += "."
					}
					path += r.BrowseName.Name
				}
				out = append(out, Node{NodeID: nid.String(), ExpandedNodeID: cn.expanded(nid), BrowseName: bn, Class: className(r.NodeClass), Depth: d, Path: path})
				if r.NodeClass == ua.NodeClassVariable {
					vars = append(vars, len(out)-1)
				}
				next = append(next, nid)
				nextPaths = append(nextPaths, path)
			}
		}
		level, paths = next, nextPaths
	}
	if len(vars) > 0 {
		ids := make([]*ua.NodeID, len(vars))
		for k, i := range vars {
			ids[k], _ = ua.ParseNodeID(out[i].NodeID)
		}
		types, err := c.ReadAttribute(ctx, ua.AttributeIDDataType, ids)
		if err != nil {
			return out, err
		}
		levels, err := c.ReadAttribute(ctx, ua.AttributeIDUserAccessLevel, ids)
		if err != nil {
			return out, err
		}
		for k, i := range vars {
			out[i].Type = typeName(types[k])
			out[i].Access = "ro"
			if lv, ok := value(levels[k]).(byte); ok && lv&byte(ua.AccessLevelTypeCurrentWrite) != 0 {
				out[i].Access = "rw"
			}
		}
	}
	if len(out) > 0 {
		ids := make([]*ua.NodeID, len(out))
		for i := range out {
			ids[i], _ = ua.ParseNodeID(out[i].NodeID)
		}
		descs, err := c.ReadAttribute(ctx, ua.AttributeIDDescription, ids)
		if err != nil {
			return out, err
		}
		for i, dv := range descs {
			if lt, ok := value(dv).(*ua.LocalizedText); ok && lt != nil {
				out[i].Description = lt.Text
			}
		}
	}
	return out, nil
}

// value returns the value of a good DataValue, nil otherwise.
func value(dv *ua.DataValue) any {
	if dv == nil || dv.Value == nil || IsBad(dv.Status) {
		return nil
	}
	return dv.Value.Value()
}

func (c *Client) browseOne(ctx context.Context, cn *conn, n *ua.NodeID) ([]*ua.ReferenceDescription, error) {
	req := &ua.BrowseRequest{
		View: &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
		NodesToBrowse: []*ua.BrowseDescription{{
			NodeID:          n,
			BrowseDirection: ua.BrowseDirectionForward,
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
			IncludeSubtypes: true,
			ResultMask:      uint32(ua.BrowseResultMaskAll),
		}},
	}
	resp, err := cn.uc.Browse(ctx, req)
	if err != nil {
		return nil, c.callError("browse "+n.String(), cn, err)
	}
	if len(resp.Results) != 1 {
		return nil, fmt.Errorf("opcua: browse %s: %d results", n, len(resp.Results))
	}
	r := resp.Results[0]
	if r.StatusCode != ua.StatusOK {
		return nil, fmt.Errorf("opcua: browse %s: %w", n, r.StatusCode)
	}
	refs := r.References
	for cp := r.ContinuationPoint; len(cp) > 0; {
		nr, err := cn.uc.BrowseNext(ctx, &ua.BrowseNextRequest{ContinuationPoints: [][]byte{cp}})
		if err != nil {
			return nil, c.callError("browse next "+n.String(), cn, err)
		}
		if len(nr.Results) != 1 || nr.Results[0].StatusCode != ua.StatusOK {
			break
		}
		refs = append(refs, nr.Results[0].References...)
		cp = nr.Results[0].ContinuationPoint
	}
	return refs, nil
}

func className(c ua.NodeClass) string {
	switch c {
	case ua.NodeClassObject:
		return "Object"
	case ua.NodeClassVariable:
		return "Variable"
	case ua.NodeClassMethod:
		return "Method"
	case ua.NodeClassObjectType:
		return "ObjectType"
	case ua.NodeClassVariableType:
		return "VariableType"
	case ua.NodeClassReferenceType:
		return "ReferenceType"
	case ua.NodeClassDataType:
		return "DataType"
	case ua.NodeClassView:
		return "View"
	}
	return "Unspecified"
}

func typeName(dv *ua.DataValue) string {
	if dv == nil || dv.Value == nil {
		return ""
	}
	var nid *ua.NodeID
	switch x := dv.Value.Value().(type) {
	case *ua.NodeID:
		nid = x
	case *ua.ExpandedNodeID:
		nid = x.NodeID
	}
	if nid == nil {
		return ""
	}
	if nid.Namespace() == 0 {
		if t, ok := DataTypeOf(nid.IntID()); ok {
			return t.String()
		}
		if n := id.Name(nid.IntID()); n != "" {
			return n
		}
	}
	return nid.String()
}
