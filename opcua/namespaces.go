package opcua

import (
	"context"
	"fmt"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// readNamespaces reads the server's namespace array (Server.NamespaceArray),
// which maps the namespace indexes of this session to URIs. A server may
// order its namespaces differently after a restart, so it is read on
// every session. A server whose array cannot be read (it is mandatory)
// gets none: addresses with a namespace URI then resolve to
// BadNodeIdUnknown. The call failing as a whole is an error, as in
// readLimits.
func (c *Client) readNamespaces(ctx context.Context, cn *conn) ([]string, error) {
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither, NodesToRead: []*ua.ReadValueID{
		{NodeID: ua.NewNumericNodeID(0, id.Server_NamespaceArray), AttributeID: ua.AttributeIDValue},
	}}
	resp, err := cn.uc.Read(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("opcua: read the namespace array of %s: %w", c.cfg.Endpoint, err)
	}
	var uris []string
	if len(resp.Results) == 1 {
		uris, _ = value(resp.Results[0]).([]string)
	}
	if len(uris) == 0 {
		c.log.Warn("opcua: the server's namespace array is not readable; addresses with nsu= will not resolve")
	}
	return uris, nil
}

// namespaceIndex returns the index of uri on this session.
func (cn *conn) namespaceIndex(uri string) (uint16, bool) {
	for i, u := range cn.namespaces {
		if u == uri && i <= 0xffff {
			return uint16(i), true
		}
	}
	return 0, false
}

// local returns the node id of a, whose NodeID is in the namespace
// a.NamespaceURI, in this session's indexes; BadNodeIdUnknown when the
// server has no such namespace.
func (cn *conn) local(a Address) (*ua.NodeID, ua.StatusCode) {
	ns, ok := cn.namespaceIndex(a.NamespaceURI)
	if !ok {
		return nil, ua.StatusBadNodeIDUnknown
	}
	return withNamespace(a.NodeID, ns), ua.StatusOK
}

// expanded formats n with its namespace URI instead of its index,
// "nsu=urn:kiln:uasim;s=Line1.Temp"; "" when the index is unknown.
func (cn *conn) expanded(n *ua.NodeID) string {
	ns := int(n.Namespace())
	if ns >= len(cn.namespaces) {
		return ""
	}
	return Address{NodeID: withNamespace(n, 0), NamespaceURI: cn.namespaces[ns]}.String()
}

// withNamespace returns n in namespace ns.
func withNamespace(n *ua.NodeID, ns uint16) *ua.NodeID {
	local := n.String()
	if i := strings.IndexByte(local, ';'); strings.HasPrefix(local, "ns=") && i > 0 {
		local = local[i+1:]
	}
	out, err := ua.ParseNodeID(fmt.Sprintf("ns=%d;%s", ns, local))
	if err != nil {
		return n // cannot happen: local is what NodeID.String wrote
	}
	return out
}

// escapeURI percent-encodes the characters that would end or confuse the
// URI of an nsu= address.
func escapeURI(u string) string {
	return strings.NewReplacer("%", "%25", ";", "%3B").Replace(u)
}
