package uasim

import (
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// publishLimits puts Config.Limits into the OperationLimits properties of
// srv's address space. gopcua publishes a MaxNodesPerRead of its own
// (32, not enforced) and leaves the others without a value; each is
// replaced, so a client reads exactly what the server enforces.
func (s *Server) publishLimits(srv *server.Server) {
	ns0, err := srv.Namespace(0)
	if err != nil {
		return
	}
	l := s.cfg.Limits
	for _, p := range []struct {
		id    uint32
		name  string
		value uint32
	}{
		{id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead, "MaxNodesPerRead", l.MaxNodesPerRead},
		{id.Server_ServerCapabilities_OperationLimits_MaxNodesPerWrite, "MaxNodesPerWrite", l.MaxNodesPerWrite},
		{id.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIDs, "MaxNodesPerTranslateBrowsePathsToNodeIds", l.MaxNodesPerTranslateBrowsePaths},
		{id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall, "MaxMonitoredItemsPerCall", l.MaxMonitoredItemsPerCall},
	} {
		v := p.value
		ns0.AddNode(server.NewNode(ua.NewNumericNodeID(0, p.id), server.Attributes{
			ua.AttributeIDNodeClass:   server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:  server.DataValueFromValue(&ua.QualifiedName{Name: p.name}),
			ua.AttributeIDDisplayName: server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: p.name}),
			ua.AttributeIDDataType:    server.DataValueFromValue(ua.NewNumericNodeID(0, id.UInt32)),
			ua.AttributeIDValueRank:   server.DataValueFromValue(int32(-1)),
			ua.AttributeIDAccessLevel: server.DataValueFromValue(byte(ua.AccessLevelTypeCurrentRead)),
		}, server.References{typeDefRef(id.PropertyType, "PropertyType")}, func() *ua.DataValue {
			return &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueServerTimestamp, Value: ua.MustVariant(v), ServerTimestamp: time.Now()}
		}))
	}
}

// tooMany is the ServiceFault code of a call with n operations under
// limit (0: none), or nil when it is within it.
func tooMany(n int, limit uint32) error {
	if limit > 0 && n > int(limit) {
		return ua.StatusBadTooManyOperations
	}
	return nil
}
