package uasim

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/plc"
)

// register installs the services uasim implements itself in place of
// gopcua's: Read (to enforce MaxNodesPerRead), Write (typed,
// access-checked, with the OnWrite hook), TranslateBrowsePathsToNodeIDs
// (unsupported by gopcua), and CreateMonitoredItems (gopcua accepts every
// item, even for unknown nodes, and ignores filters). Each fails a call
// over its operation limit as a whole.
func (s *Server) register(srv *server.Server, tr *tree) {
	l := s.cfg.Limits
	srv.RegisterHandler(id.ReadRequest_Encoding_DefaultBinary, func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.ReadRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if err := tooMany(len(req.NodesToRead), l.MaxNodesPerRead); err != nil {
			return nil, err
		}
		return readNodes(srv, req), nil
	})
	srv.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.WriteRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if err := tooMany(len(req.NodesToWrite), l.MaxNodesPerWrite); err != nil {
			return nil, err
		}
		return s.write(srv, req), nil
	})
	srv.RegisterHandler(id.TranslateBrowsePathsToNodeIDsRequest_Encoding_DefaultBinary, func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.TranslateBrowsePathsToNodeIDsRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if err := s.refusal(TranslateBrowsePaths); err != nil {
			return nil, err
		}
		if err := tooMany(len(req.BrowsePaths), l.MaxNodesPerTranslateBrowsePaths); err != nil {
			return nil, err
		}
		return translate(tr, req), nil
	})
	srv.RegisterHandler(id.CreateMonitoredItemsRequest_Encoding_DefaultBinary, func(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
		req, ok := r.(*ua.CreateMonitoredItemsRequest)
		if !ok {
			return nil, ua.StatusBadRequestTypeInvalid
		}
		if err := s.refusal(CreateMonitoredItems); err != nil {
			return nil, err
		}
		if err := tooMany(len(req.ItemsToCreate), l.MaxMonitoredItemsPerCall); err != nil {
			return nil, err
		}
		return s.createItems(srv, req)
	})
}

// readNodes answers a Read from srv's namespaces, as gopcua's own Read
// does.
func readNodes(srv *server.Server, req *ua.ReadRequest) *ua.ReadResponse {
	results := make([]*ua.DataValue, len(req.NodesToRead))
	for i, rv := range req.NodesToRead {
		if rv == nil || rv.NodeID == nil {
			results[i] = &ua.DataValue{EncodingMask: ua.DataValueStatusCode | ua.DataValueServerTimestamp, Status: ua.StatusBadNodeIDInvalid, ServerTimestamp: time.Now()}
			continue
		}
		ns, err := srv.Namespace(int(rv.NodeID.Namespace()))
		if err != nil {
			results[i] = &ua.DataValue{EncodingMask: ua.DataValueStatusCode | ua.DataValueServerTimestamp, Status: ua.StatusBadNodeIDUnknown, ServerTimestamp: time.Now()}
			continue
		}
		results[i] = ns.Attribute(rv.NodeID, rv.AttributeID)
	}
	return &ua.ReadResponse{ResponseHeader: header(req.RequestHeader), Results: results, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func header(req *ua.RequestHeader) *ua.ResponseHeader {
	return &ua.ResponseHeader{
		Timestamp:          time.Now(),
		RequestHandle:      req.RequestHandle,
		ServiceResult:      ua.StatusOK,
		ServiceDiagnostics: &ua.DiagnosticInfo{},
		StringTable:        []string{},
		AdditionalHeader:   ua.NewExtensionObject(nil),
	}
}

func (s *Server) write(srv *server.Server, req *ua.WriteRequest) *ua.WriteResponse {
	results := make([]ua.StatusCode, len(req.NodesToWrite))
	for i, w := range req.NodesToWrite {
		results[i] = s.writeOne(srv, w)
	}
	return &ua.WriteResponse{ResponseHeader: header(req.RequestHeader), Results: results, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func (s *Server) writeOne(srv *server.Server, w *ua.WriteValue) ua.StatusCode {
	if w == nil || w.NodeID == nil {
		return ua.StatusBadNodeIDInvalid
	}
	if w.NodeID.Namespace() != s.cfg.NamespaceIndex {
		ns, err := srv.Namespace(int(w.NodeID.Namespace()))
		if err != nil {
			return ua.StatusBadNodeIDUnknown
		}
		return ns.SetAttribute(w.NodeID, w.AttributeID, w.Value)
	}
	key := w.NodeID.String()
	s.mu.RLock()
	e, ok := s.byNode[key]
	var (
		t        plc.Tag
		writable bool
	)
	if ok {
		t, writable = e.tag, e.writable
	}
	s.mu.RUnlock()
	switch {
	case !ok:
		if srv.Node(w.NodeID) != nil {
			return ua.StatusBadNotWritable
		}
		return ua.StatusBadNodeIDUnknown
	case w.AttributeID != ua.AttributeIDValue:
		return ua.StatusBadNotWritable
	case !writable:
		return ua.StatusBadNotWritable
	case w.Value == nil || w.Value.Value == nil:
		return ua.StatusBadTypeMismatch
	}
	if uint32(w.Value.Value.Type()) != opcua.DataTypeID(t.Type.Kind) {
		return ua.StatusBadTypeMismatch
	}
	v, err := opcua.ValueOf(w.Value.Value, t.Type)
	if err != nil {
		return ua.StatusBadOutOfRange
	}
	if s.onWrite != nil {
		if err := s.onWrite(t.Name, v); err != nil {
			var sc ua.StatusCode
			if errors.As(err, &sc) {
				return sc
			}
			s.log.Warn("uasim: write hook refused", zap.String("tag", t.Name), zap.Error(err))
			return ua.StatusBadInternalError
		}
	}
	s.mu.Lock()
	e, ok = s.byNode[key]
	if ok {
		e.val, e.ts, e.status = v, time.Now(), ua.StatusOK
	}
	s.mu.Unlock()
	if !ok {
		return ua.StatusBadNodeIDUnknown
	}
	s.notify(srv, w.NodeID)
	return ua.StatusOK
}

func translate(tr *tree, req *ua.TranslateBrowsePathsToNodeIDsRequest) *ua.TranslateBrowsePathsToNodeIDsResponse {
	results := make([]*ua.BrowsePathResult, len(req.BrowsePaths))
	for i, bp := range req.BrowsePaths {
		results[i] = translateOne(tr, bp)
	}
	return &ua.TranslateBrowsePathsToNodeIDsResponse{ResponseHeader: header(req.RequestHeader), Results: results, DiagnosticInfos: []*ua.DiagnosticInfo{}}
}

func translateOne(tr *tree, bp *ua.BrowsePath) *ua.BrowsePathResult {
	if bp == nil || bp.StartingNode == nil || bp.RelativePath == nil || len(bp.RelativePath.Elements) == 0 {
		return &ua.BrowsePathResult{StatusCode: ua.StatusBadNothingToDo, Targets: []*ua.BrowsePathTarget{}}
	}
	cur := bp.StartingNode
	for _, el := range bp.RelativePath.Elements {
		if el == nil || el.TargetName == nil || el.TargetName.Name == "" {
			return &ua.BrowsePathResult{StatusCode: ua.StatusBadBrowseNameInvalid, Targets: []*ua.BrowsePathTarget{}}
		}
		next, ok := tr.children[cur.String()][qnKey(el.TargetName)]
		if !ok {
			return &ua.BrowsePathResult{StatusCode: ua.StatusBadNoMatch, Targets: []*ua.BrowsePathTarget{}}
		}
		cur = next
	}
	return &ua.BrowsePathResult{
		StatusCode: ua.StatusOK,
		Targets:    []*ua.BrowsePathTarget{{TargetID: ua.NewExpandedNodeID(cur, "", 0), RemainingPathIndex: math.MaxUint32}},
	}
}

// band is a monitored item's deadband: a change is reported when it
// exceeds width.
type band struct {
	width float64
}

func (s *Server) createItems(srv *server.Server, req *ua.CreateMonitoredItemsRequest) (ua.Response, error) {
	mis, ss := srv.MonitoredItemService, srv.SubscriptionService
	ss.Mu.Lock()
	sub, ok := ss.Subs[req.SubscriptionID]
	ss.Mu.Unlock()
	if !ok {
		return nil, ua.StatusBadSubscriptionIDInvalid
	}
	sess := srv.Session(req.RequestHeader)
	if sess == nil || sub.Session == nil || sess.AuthTokenID.String() != sub.Session.AuthTokenID.String() {
		return nil, ua.StatusBadSessionIDInvalid
	}
	results := make([]*ua.MonitoredItemCreateResult, len(req.ItemsToCreate))
	var created []*server.MonitoredItem
	var bands []band
	for i, ir := range req.ItemsToCreate {
		b, code := s.checkItem(srv, ir)
		if code != ua.StatusOK {
			results[i] = &ua.MonitoredItemCreateResult{StatusCode: code, FilterResult: ua.NewExtensionObject(nil)}
			continue
		}
		item := &server.MonitoredItem{ID: mis.NextID(), Sub: sub, Req: ir, Mode: ir.MonitoringMode}
		key := ir.ItemToMonitor.NodeID.String()
		mis.Mu.Lock()
		mis.Items[item.ID] = item
		mis.Nodes[key] = append(mis.Nodes[key], item)
		mis.Subs[sub.ID] = append(mis.Subs[sub.ID], item)
		mis.Mu.Unlock()
		results[i] = &ua.MonitoredItemCreateResult{
			StatusCode:              ua.StatusOK,
			MonitoredItemID:         item.ID,
			RevisedSamplingInterval: sub.RevisedPublishingInterval,
			RevisedQueueSize:        1,
			FilterResult:            ua.NewExtensionObject(nil),
		}
		created = append(created, item)
		bands = append(bands, b)
	}
	// Initial values, as every server sends them for new items.
	s.nmu.Lock()
	var dl deadline
	for i, item := range created {
		s.bands.Store(item.ID, bands[i])
		dv := s.read(srv, item.Req.ItemToMonitor.NodeID)
		s.send(item, dv, &dl)
	}
	dl.stop()
	s.nmu.Unlock()
	return &ua.CreateMonitoredItemsResponse{ResponseHeader: header(req.RequestHeader), Results: results, DiagnosticInfos: []*ua.DiagnosticInfo{}}, nil
}

// checkItem validates a monitored item request and returns its deadband.
func (s *Server) checkItem(srv *server.Server, ir *ua.MonitoredItemCreateRequest) (band, ua.StatusCode) {
	if ir == nil || ir.ItemToMonitor == nil || ir.ItemToMonitor.NodeID == nil || ir.RequestedParameters == nil {
		return band{}, ua.StatusBadNodeIDInvalid
	}
	nid := ir.ItemToMonitor.NodeID
	var t plc.Tag
	if nid.Namespace() == s.cfg.NamespaceIndex {
		s.mu.RLock()
		e, ok := s.byNode[nid.String()]
		if ok {
			t = e.tag
		}
		s.mu.RUnlock()
		if !ok {
			if srv.Node(nid) != nil {
				return band{}, ua.StatusBadAttributeIDInvalid
			}
			return band{}, ua.StatusBadNodeIDUnknown
		}
	} else if srv.Node(nid) == nil {
		return band{}, ua.StatusBadNodeIDUnknown
	}
	if ir.ItemToMonitor.AttributeID != ua.AttributeIDValue {
		return band{}, ua.StatusBadAttributeIDInvalid
	}
	f := ir.RequestedParameters.Filter
	if f == nil || f.Value == nil {
		return band{}, ua.StatusOK
	}
	dcf, ok := f.Value.(*ua.DataChangeFilter)
	if !ok {
		return band{}, ua.StatusBadMonitoredItemFilterUnsupported
	}
	switch ua.DeadbandType(dcf.DeadbandType) {
	case ua.DeadbandTypeNone:
		return band{}, ua.StatusOK
	case ua.DeadbandTypeAbsolute:
		if dcf.DeadbandValue < 0 {
			return band{}, ua.StatusBadDeadbandFilterInvalid
		}
		return band{width: dcf.DeadbandValue}, ua.StatusOK
	case ua.DeadbandTypePercent:
		lo, hi, ok := euRange(t)
		if !ok || dcf.DeadbandValue < 0 || dcf.DeadbandValue > 100 {
			return band{}, ua.StatusBadDeadbandFilterInvalid
		}
		return band{width: dcf.DeadbandValue / 100 * (hi - lo)}, ua.StatusOK
	}
	return band{}, ua.StatusBadDeadbandFilterInvalid
}

// euRange is the range a percent deadband is taken of: the raw range of
// the tag's scaling, else its write limits.
func euRange(t plc.Tag) (lo, hi float64, ok bool) {
	if t.Scaling != nil && t.Scaling.RawMax != t.Scaling.RawMin {
		return min(t.Scaling.RawMin, t.Scaling.RawMax), max(t.Scaling.RawMin, t.Scaling.RawMax), true
	}
	if t.Limits.Min != nil && t.Limits.Max != nil && *t.Limits.Max > *t.Limits.Min {
		return *t.Limits.Min, *t.Limits.Max, true
	}
	return 0, 0, false
}

// read returns the current value of any node.
func (s *Server) read(srv *server.Server, nid *ua.NodeID) *ua.DataValue {
	if nid.Namespace() == s.cfg.NamespaceIndex {
		return s.dataValue(nid.String())
	}
	ns, err := srv.Namespace(int(nid.Namespace()))
	if err != nil {
		return &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusBadNodeIDUnknown}
	}
	return ns.Attribute(nid, ua.AttributeIDValue)
}

// notify sends a node's current value to the items monitoring it.
func (s *Server) notify(srv *server.Server, nid *ua.NodeID) {
	mis := srv.MonitoredItemService
	if mis == nil {
		return
	}
	mis.Mu.Lock()
	items := slices.Clone(mis.Nodes[nid.String()])
	mis.Mu.Unlock()
	if len(items) == 0 {
		return
	}
	dv := s.read(srv, nid)
	s.nmu.Lock()
	var dl deadline
	for _, it := range items {
		s.send(it, dv, &dl)
	}
	dl.stop()
	s.nmu.Unlock()
}

// sent is what an item last reported.
type sent struct {
	v      plc.Value
	status ua.StatusCode
}

// deadline bounds how long one notify waits for slow subscriptions.
type deadline struct {
	t       *time.Timer
	expired bool
}

func (d *deadline) stop() {
	if d.t != nil {
		d.t.Stop()
	}
}

// send reports dv to item unless the item's deadband suppresses it.
// s.nmu is held.
func (s *Server) send(item *server.MonitoredItem, dv *ua.DataValue, dl *deadline) {
	if item.Mode == ua.MonitoringModeDisabled {
		return
	}
	var v plc.Value
	if dv.Value != nil && !opcua.IsBad(dv.Status) {
		v, _ = opcua.NaturalValue(dv.Value)
	}
	if prev, ok := s.last[item.ID]; ok && prev.status == dv.Status && v.IsValid() && prev.v.IsValid() {
		b, _ := s.bands.Load(item.ID)
		width := 0.0
		if bb, ok := b.(band); ok {
			width = bb.width
		}
		if v.Distance(prev.v) <= width {
			return
		}
	}
	s.last[item.ID] = sent{v: v, status: dv.Status}
	n := &ua.MonitoredItemNotification{ClientHandle: item.Req.RequestedParameters.ClientHandle, Value: dv}
	select {
	case item.Sub.NotifyChannel <- n:
		return
	default:
	}
	if dl.expired {
		s.dropped.Add(1)
		return
	}
	if dl.t == nil {
		dl.t = time.NewTimer(time.Second)
	}
	select {
	case item.Sub.NotifyChannel <- n:
	case <-dl.t.C:
		dl.expired = true
		s.dropped.Add(1)
	}
}
