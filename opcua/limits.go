package opcua

import (
	"context"
	"fmt"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"go.uber.org/zap"
)

// limits are the most operations one service call carries on a
// connection: the client's defaults, lowered to the server's
// OperationLimits where it has them.
type limits struct {
	read      int // nodes per Read
	write     int // nodes per Write
	translate int // browse paths per TranslateBrowsePathsToNodeIds
	monitor   int // items per CreateMonitoredItems
}

// defaultLimits are the client's own chunk sizes: a few hundred nodes per
// call is within the limits of every common server that publishes none.
var defaultLimits = limits{read: 500, write: 500, translate: 500, monitor: 1000}

// limitNodes are the OperationLimits properties read on every new
// session, in the order readLimits expects them.
var limitNodes = []uint32{
	id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
	id.Server_ServerCapabilities_OperationLimits_MaxNodesPerWrite,
	id.Server_ServerCapabilities_OperationLimits_MaxNodesPerTranslateBrowsePathsToNodeIDs,
	id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
}

// readLimits reads the server's operation limits in one Read and returns
// the effective chunk sizes. A property that is missing, Bad or 0 means
// the server sets no limit for that service. The call failing as a whole
// is an error: gopcua ends the session on it anyway.
func (c *Client) readLimits(ctx context.Context, cn *conn) (limits, error) {
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither, NodesToRead: make([]*ua.ReadValueID, len(limitNodes))}
	for i, n := range limitNodes {
		req.NodesToRead[i] = &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, n), AttributeID: ua.AttributeIDValue}
	}
	resp, err := cn.uc.Read(ctx, req)
	if err != nil {
		return defaultLimits, fmt.Errorf("opcua: read operation limits of %s: %w", c.cfg.Endpoint, err)
	}
	server := make([]int, len(limitNodes))
	if len(resp.Results) == len(limitNodes) {
		for i, dv := range resp.Results {
			server[i] = limitValue(dv)
		}
	}
	l := defaultLimits
	for i, p := range []*int{&l.read, &l.write, &l.translate, &l.monitor} {
		if server[i] > 0 && server[i] < *p {
			*p = server[i]
		}
	}
	if server[0] > 0 || server[1] > 0 || server[2] > 0 || server[3] > 0 {
		c.log.Info("opcua: server operation limits apply",
			zap.Int("max_nodes_per_read", server[0]),
			zap.Int("max_nodes_per_write", server[1]),
			zap.Int("max_nodes_per_translate_browse_paths", server[2]),
			zap.Int("max_monitored_items_per_call", server[3]),
			zap.Int("read_chunk", l.read),
			zap.Int("write_chunk", l.write),
			zap.Int("translate_chunk", l.translate),
			zap.Int("monitor_chunk", l.monitor))
	}
	return l, nil
}

// limitValue is an OperationLimits property's value, 0 (no limit) when
// it is missing, Bad or not an unsigned integer.
func limitValue(dv *ua.DataValue) int {
	if dv == nil || dv.Value == nil || IsBad(dv.Status) {
		return 0
	}
	switch v := dv.Value.Value().(type) {
	case uint32:
		return int(v)
	case uint16:
		return int(v)
	case uint64:
		return int(min(v, 1<<31-1))
	}
	return 0
}

// inChunks calls f with the bounds of consecutive runs of at most size of
// n operations, in order, and stops at the first error.
func inChunks(n, size int, f func(lo, hi int) error) error {
	if size <= 0 {
		size = n
	}
	for lo := 0; lo < n; lo += size {
		if err := f(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}
