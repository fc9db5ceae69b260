package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/spool"
)

// haNode is the gateway's part in an HA pair: the elector, the role
// changes that start and stop the uplink (and, cold, the reading), the
// standby's trimming of its own spool and the heartbeat with the peer.
type haNode struct {
	g    *Gateway
	cfg  ha.Config
	el   *ha.Elector
	hash string // of the configuration both nodes must share
	hc   *http.Client

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every role change
	last    *ha.Event     // the last role change
	peer    peerState
}

// peerState is what this node knows of the other one.
type peerState struct {
	// Heard is when the peer last answered a heartbeat; Asked when it
	// last asked this node for one.
	Heard time.Time `json:"heard,omitzero"`
	Asked time.Time `json:"asked,omitzero"`
	// Beat is the peer's last answer.
	Beat *heartbeat `json:"heartbeat,omitempty"`
	// Error is why the last heartbeat failed.
	Error string `json:"error,omitempty"`
}

// heartbeat is a node's answer on GET /api/ha/peer.
type heartbeat struct {
	NodeID     uint32   `json:"node_id"`
	Gateway    string   `json:"gateway"`
	Role       ha.Role  `json:"role"`
	Lease      ha.Lease `json:"lease"`
	ConfigHash string   `json:"config_hash"`
}

// standbyRetain is how long a warm standby keeps what it spooled: on
// takeover it forwards its spool from (at least) two failover timeouts
// before, which covers the timeout the old active may have been dead or
// cut off for, and one more for what it had read but not yet forwarded.
func (h *haNode) standbyRetain() time.Duration { return 2 * h.cfg.Timeout() }

func (h *haNode) cold() bool { return h.cfg.StandbyMode() == ha.Cold }

// newHA makes the elector on the lease device's raw driver and wraps
// every driver the writer writes through in its fence.
func newHA(g *Gateway, cfg ha.Config) (*haNode, map[string]plc.Driver, error) {
	drv, ok := g.drivers[cfg.Lease.Device]
	if !ok {
		return nil, nil, fmt.Errorf("ha.lease.device: %q is not a device of the point database", cfg.Lease.Device)
	}
	h := &haNode{g: g, cfg: cfg, changed: make(chan struct{}), hc: &http.Client{}}
	el, err := ha.New(cfg, drv, ha.WithClock(g.clk), ha.WithLogger(g.log.Named("ha")), ha.WithEvents(h.onEvent))
	if err != nil {
		return nil, nil, err
	}
	h.el = el
	if h.hash, err = configHash(g, cfg); err != nil {
		return nil, nil, err
	}
	fenced := make(map[string]plc.Driver, len(g.drivers))
	for name, d := range g.drivers {
		fenced[name] = el.Fence(d)
	}
	return h, fenced, nil
}

// configHash digests what both nodes must agree on: the point database
// (devices with their settings, groups, tags), the tenant and where and
// how the lease is kept. The gateway id, node id, preferred role, peer
// and listen addresses and an S7 device's local_tsap differ between the
// nodes and are left out.
func configHash(g *Gateway, cfg ha.Config) (string, error) {
	devices := make([]plc.Device, len(g.db.Devices))
	for i, d := range g.db.Devices {
		// Each node may connect from its own TSAP, so that the PLC's
		// connection list tells them apart.
		d.Options = maps.Clone(d.Options)
		delete(d.Options, "local_tsap")
		devices[i] = d
	}
	b, err := json.Marshal(struct {
		Tenant          string
		Devices         []plc.Device
		Groups          []plc.ScanGroup
		Tags            []plc.Tag
		Lease           ha.LeaseConfig
		FailoverTimeout time.Duration
		Standby         string
	}{g.cfg.Tenant, devices, g.db.Groups, g.db.Tags, cfg.Lease, cfg.FailoverTimeout, cfg.Standby})
	if err != nil {
		return "", fmt.Errorf("ha: hashing the configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// onEvent is the elector's hook: it logs the change and wakes the role
// gates.
func (h *haNode) onEvent(ev ha.Event) {
	h.g.log.Info("ha role", zap.String("from", string(ev.From)), zap.String("to", string(ev.To)),
		zap.Uint32("epoch", ev.Epoch), zap.Uint32("holder", ev.Holder), zap.String("cause", ev.Cause))
	h.mu.Lock()
	h.last = &ev
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *haNode) watch() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// byRole runs active while the node is active and standby while it is
// not (either may be nil: nothing then), cancelling one and waiting for
// it before starting the other, so the two can share one resource (the
// spool's single reader). An error of either is returned (the supervisor
// restarts the child); one that returns nil early waits for the next
// role change.
func (h *haNode) byRole(active, standby func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for {
			ch := h.watch()
			on := h.el.Role() == ha.RoleActive
			run := standby
			if on {
				run = active
			}
			if run == nil {
				select {
				case <-ctx.Done():
					return nil
				case <-ch:
					continue
				}
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- run(rctx) }()
			var err error
			switched := false
		wait:
			for {
				select {
				case err = <-done:
					break wait
				case <-ch:
					ch = h.watch()
					if (h.el.Role() == ha.RoleActive) != on {
						switched = true
						cancel()
						err = <-done
						break wait
					}
				}
			}
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case switched:
				continue
			case err != nil:
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ch:
			}
		}
	}
}

// trim is the warm standby's use of its spool: it reads the spool as the
// forwarder would and acknowledges each batch once it is standbyRetain
// old, so a standby of weeks holds two failover timeouts of data, not
// weeks of it, and a takeover forwards exactly that stretch (the store
// absorbs what the old active had sent as well). What it must not drop
// it keeps: an audit record (a write the standby refused) is appended
// again at the tail before its acknowledgement, so it is forwarded once
// this node is active; a record spooled before this standby period
// began (while this node was active, or in an earlier run) stops the
// trimming, so an old active's unforwarded data is never discarded: it
// waits for this node's next turn as active.
func (h *haNode) trim(ctx context.Context) error {
	since := h.g.clk.Now()
	r, err := h.g.sp.OpenReader()
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	retain := h.standbyRetain()
	for {
		recs, err := r.Next(ctx, 256)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, rec := range recs {
			if rec.Time.Before(since) {
				h.g.log.Info("ha: the spool holds data from before this standby period; kept for the next turn as active",
					zap.Time("spooled", rec.Time))
				<-ctx.Done()
				return nil
			}
			if d := rec.Time.Add(retain).Sub(h.g.clk.Now()); d > 0 {
				t := h.g.clk.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C():
				}
			}
			if m, err := spool.DecodeMessage(rec.Data); err == nil && command.Kind(m) != command.KindBatch {
				if err := h.g.sp.Append(ctx, rec.Data); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
			if err := r.Ack(rec.Seq); err != nil {
				return err
			}
		}
	}
}

// heartbeat returns this node's answer to the peer.
func (h *haNode) heartbeat() heartbeat {
	st := h.el.Status()
	return heartbeat{NodeID: h.cfg.NodeID, Gateway: h.g.cfg.ID, Role: st.Role, Lease: st.Lease, ConfigHash: h.hash}
}

// runHeartbeat asks the peer for its heartbeat every quarter failover
// timeout until ctx is done.
func (h *haNode) runHeartbeat(ctx context.Context) error {
	every := h.cfg.Timeout() / 4
	t := h.g.clk.NewTicker(every)
	defer t.Stop()
	for {
		beat, err := h.askPeer(ctx, every)
		h.mu.Lock()
		if err != nil {
			h.peer.Error = err.Error()
		} else {
			h.peer.Error, h.peer.Beat, h.peer.Heard = "", &beat, h.g.clk.Now()
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (h *haNode) askPeer(ctx context.Context, timeout time.Duration) (heartbeat, error) {
	var beat heartbeat
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+h.cfg.Peer+"/api/ha/peer?from="+strconv.FormatUint(uint64(h.cfg.NodeID), 10), nil)
	if err != nil {
		return beat, err
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return beat, fmt.Errorf("peer %s: %w", h.cfg.Peer, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return beat, fmt.Errorf("peer %s: %s", h.cfg.Peer, resp.Status)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<10)).Decode(&beat); err != nil {
		return beat, fmt.Errorf("peer %s: heartbeat: %w", h.cfg.Peer, err)
	}
	return beat, nil
}

// problems are the pair's faults the operator must fix: the two nodes
// disagree on the configuration, or share a node id.
func (h *haNode) problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.peer.Beat
	if b == nil {
		return nil
	}
	var p []string
	if b.ConfigHash != h.hash {
		p = append(p, fmt.Sprintf("ha: configuration differs from the peer node %d (%s): hash %s here, %s there (point database, devices or lease)", b.NodeID, b.Gateway, h.hash, b.ConfigHash))
	}
	if b.NodeID == h.cfg.NodeID {
		p = append(p, fmt.Sprintf("ha: the peer %s has the same node_id %d", b.Gateway, b.NodeID))
	}
	return p
}

// haStatus is the pair's part of /api/status.
type haStatus struct {
	ha.Status
	Standby    string    `json:"standby"`
	ConfigHash string    `json:"config_hash"`
	LastChange *ha.Event `json:"last_change,omitempty"`
	// SinceFailover is the time since this node last became active.
	SinceFailover string    `json:"since_failover,omitempty"`
	Peer          peerState `json:"peer"`
	Problems      []string  `json:"problems,omitempty"`
}

func (h *haNode) status() *haStatus {
	st := &haStatus{Status: h.el.Status(), Standby: h.cfg.StandbyMode(), ConfigHash: h.hash, Problems: h.problems()}
	if !st.LastFailover.IsZero() {
		st.SinceFailover = h.g.clk.Now().Sub(st.LastFailover).Round(time.Millisecond).String()
	}
	h.mu.Lock()
	st.LastChange, st.Peer = h.last, h.peer
	h.mu.Unlock()
	return st
}

func (g *Gateway) handlePeer(w http.ResponseWriter, r *http.Request) {
	if g.ha == nil {
		writeJSON(w, http.StatusNotFound, apiError{"this gateway is not part of an HA pair"})
		return
	}
	if from := r.URL.Query().Get("from"); from != "" {
		g.ha.mu.Lock()
		g.ha.peer.Asked = g.clk.Now()
		g.ha.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, g.ha.heartbeat())
}

// handleSwitchover gives the lease to the peer (el.Resign), for an
// operator with the gateway's token; audited as a request on the pseudo
// tag "ha:switchover".
func (g *Gateway) handleSwitchover(w http.ResponseWriter, r *http.Request) {
	if g.ha == nil {
		writeJSON(w, http.StatusNotFound, apiError{"this gateway is not part of an HA pair"})
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	who := r.URL.Query().Get("who")
	if who == "" {
		who = channelHTTP
	}
	var err error
	code := http.StatusOK
	switch {
	case !g.checkToken(tok):
		err, code = command.ErrUnauthorized, http.StatusUnauthorized
	default:
		if err = g.ha.el.Resign(r.Context()); errors.Is(err, ha.ErrNotActive) {
			// Only the lease holder can hand it over: audited as fenced.
			err, code = fmt.Errorf("%w: %w", ha.ErrFenced, err), http.StatusConflict
		} else if err != nil {
			code = http.StatusBadGateway
		}
	}
	rec := plc.AuditRecord{Time: g.clk.Now(), Principal: plc.Principal{Who: who, Tenant: g.cfg.Tenant}, Tag: switchoverTag, Requested: "resign", Err: err}
	req := &request{channel: channelHTTP, id: r.URL.Query().Get("id")}
	if aerr := g.audits.WriteAudit(context.WithValue(r.Context(), requestKey{}, req), rec); aerr != nil {
		g.log.Warn("ha: the switchover's audit record was not spooled", zap.Error(aerr))
	}
	if req.audit == nil {
		writeJSON(w, code, apiError{fmt.Sprint(err)})
		return
	}
	writeJSON(w, code, req.audit)
}

// switchoverTag names a forced switchover in the audit trail.
const switchoverTag = "ha:switchover"
