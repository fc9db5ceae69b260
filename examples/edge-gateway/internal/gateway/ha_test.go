package gateway_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/wire"
)

const haTags = "groups:\n  - {name: fast, rate: 100ms, full_refresh: 500ms}\n" +
	"tags:\n" +
	"  - {name: Kiln.Setpoint, device: plc1, address: DB1.DBW0, type: INT, group: fast, access: rw}\n" +
	"  - {name: Kiln.Temp, device: plc1, address: DB1.DBD4, type: REAL, group: fast}\n"

// haLab is an HA pair of gateways reading one s7sim and forwarding to
// one pulsartest, with the PLC's own write log and a consumer of the
// data topic that counts batches by source.
type haLab struct {
	t      *testing.T
	plc    *s7sim.Server
	broker *pulsartest.Broker
	client pulsar.ClientConfig
	dir    string

	mu      sync.Mutex
	writes  []s7sim.WriteEvent
	batches map[string]int // by source
	samples map[string]int // by source
}

func newHALab(t *testing.T) *haLab {
	t.Helper()
	l := &haLab{t: t, dir: t.TempDir(), batches: map[string]int{}, samples: map[string]int{}}
	srv, err := s7sim.New(s7sim.Config{Addr: "127.0.0.1:0", DBs: map[int]int{1: 64, 100: 16}}, s7sim.WithOnWrite(func(ev s7sim.WriteEvent) {
		l.mu.Lock()
		l.writes = append(l.writes, ev)
		l.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	l.plc = srv
	if l.broker, err = pulsartest.New(pulsartest.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.broker.Close() })
	l.client = pulsar.ClientConfig{URL: l.broker.URL(), KeepAlive: time.Second, Retry: backoff.Config{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}}
	return l
}

// freeAddr returns a 127.0.0.1 address free a moment ago: each node's
// configuration names the other's HTTP address before either listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// config is node id's configuration; tags is its tag file's text.
func (l *haLab) config(id uint32, preferred ha.Role, listen, peer, tags string) config.Config {
	l.t.Helper()
	dir := filepath.Join(l.dir, fmt.Sprint(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	tagFile := filepath.Join(dir, "tags.yaml")
	if err := os.WriteFile(tagFile, []byte(tags), 0o644); err != nil {
		l.t.Fatal(err)
	}
	fast := backoff.Config{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}
	return config.Config{
		ID: fmt.Sprintf("gw-%d", id), Tenant: tenantID, Token: token, Demo: config.DemoOff, DataDir: dir,
		Devices: []config.Device{{Name: "plc1", Driver: "s7", Endpoint: l.plc.Addr(),
			Options: map[string]string{"local_tsap": fmt.Sprintf("0x%04x", 0x0100+id)}}},
		TagFiles: []string{tagFile},
		Transport: config.Transport{Kind: config.TransportPulsar,
			Pulsar:       pulsar.PublisherConfig{Client: l.client, Topic: dataTopic, SendTimeout: 2 * time.Second},
			CommandTopic: "off",
			Forward:      forward.Config{ConfirmTimeout: 3 * time.Second, Retry: fast}},
		HTTP: config.HTTP{Listen: listen},
		HA: &ha.Config{NodeID: id, PreferredRole: preferred, FailoverTimeout: 2 * time.Second, Peer: peer,
			Lease: ha.LeaseConfig{Device: "plc1", Holder: "DB100.DBD0", Epoch: "DB100.DBD4", Counter: "DB100.DBD8"}},
	}
}

// start runs a gateway until the test ends.
func (l *haLab) start(cfg config.Config) *gateway.Gateway {
	l.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg)
	if err != nil {
		cancel()
		l.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	l.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			l.t.Errorf("%s Serve: %v", cfg.ID, err)
		}
		_ = g.Close()
	})
	return g
}

// consume counts the data topic's batches and samples by source.
func (l *haLab) consume() {
	l.t.Helper()
	sub, err := pulsar.NewSubscriber(pulsar.SubscriberConfig{Client: l.client, Topic: dataTopic, Subscription: "observer",
		Type: pulsar.Failover, Earliest: true, NackDelay: 200 * time.Millisecond})
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Serve(ctx, func(_ context.Context, m transport.Message) error {
			var b wire.Batch
			if err := wire.FromMessage(m, &b); err != nil {
				return err
			}
			l.mu.Lock()
			l.batches[b.Source]++
			l.samples[b.Source] += len(b.Samples)
			l.mu.Unlock()
			return nil
		})
	}()
	l.t.Cleanup(func() { cancel(); <-done; _ = sub.Close() })
}

func (l *haLab) batchesFrom(source string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches[source]
}

// checkNoFencedWrite replays the PLC's write log in memory order: every
// write to the setpoint block (DB1) came from the node the lease words
// (DB100) named at that moment, told apart by their local TSAPs.
func (l *haLab) checkNoFencedWrite() (applied int) {
	l.t.Helper()
	l.mu.Lock()
	evs := append([]s7sim.WriteEvent(nil), l.writes...)
	l.mu.Unlock()
	sortBySeq(evs)
	var lease [12]byte
	for _, ev := range evs {
		switch ev.DB {
		case 100:
			copy(lease[ev.Offset:], ev.Data)
		case 1:
			holder := binary.BigEndian.Uint32(lease[0:4])
			if uint32(ev.ClientTSAP)-0x0100 != holder {
				l.t.Errorf("write %d to DB1.%d by TSAP %#04x applied while the lease named node %d", ev.Seq, ev.Offset, ev.ClientTSAP, holder)
			}
			applied++
		}
	}
	return applied
}

func sortBySeq(evs []s7sim.WriteEvent) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Seq < evs[j-1].Seq; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}

type haStatus struct {
	HA struct {
		Role  ha.Role  `json:"role"`
		Lease ha.Lease `json:"lease"`
		Peer  struct {
			Heard time.Time `json:"heard"`
			Asked time.Time `json:"asked"`
		} `json:"peer"`
		Problems   []string  `json:"problems"`
		LastChange *ha.Event `json:"last_change"`
	} `json:"ha"`
}

func role(t *testing.T, g *gateway.Gateway) haStatus {
	t.Helper()
	var st haStatus
	getJSON(t, "http://"+g.Addr()+"/api/status", &st)
	return st
}

func switchover(t *testing.T, g *gateway.Gateway, tok string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/api/ha/switchover?who=alice", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestHAPairOneWriterOneUplinkAndASwitchover: of two gateways with the
// same configuration, the preferred one becomes active; only it forwards
// and writes; the standby's write is refused as fenced (409) and
// audited; each node hears the other's heartbeat; an operator's
// switchover (token required, audited) makes the other node the writer
// and the forwarder; the PLC's own write log shows no write applied by
// a node the lease did not name.
func TestHAPairOneWriterOneUplinkAndASwitchover(t *testing.T) {
	l := newHALab(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := l.start(l.config(1, ha.RoleActive, addrA, addrB, haTags))
	b := l.start(l.config(2, ha.RoleStandby, addrB, addrA, haTags))
	l.consume()
	baseA, baseB := "http://"+a.Addr(), "http://"+b.Addr()

	eventually(t, 30*time.Second, "node 1 active, node 2 standby, each heard by the other", func() bool {
		sa, sb := role(t, a), role(t, b)
		return sa.HA.Role == ha.RoleActive && sb.HA.Role == ha.RoleStandby && sb.HA.Lease.Holder == 1 &&
			!sa.HA.Peer.Heard.IsZero() && !sb.HA.Peer.Heard.IsZero() && !sa.HA.Peer.Asked.IsZero()
	})
	if p := role(t, a).HA.Problems; len(p) != 0 {
		t.Errorf("node 1 reports %v for an identical pair", p)
	}
	eventually(t, 30*time.Second, "batches of node 1 at the uplink", func() bool { return l.batchesFrom("gw-1") > 0 })

	// The standby refuses writes, fenced, and audits them.
	r := postWrite(t, baseB, token, "Kiln.Setpoint", 7)
	if r.code != http.StatusConflict || r.audit.Code != command.CodeFenced {
		t.Fatalf("write through the standby: %d %+v, want 409 fenced", r.code, r.audit)
	}
	var audits []command.Audit
	getJSON(t, baseB+"/api/audit", &audits)
	if len(audits) != 1 || audits[0].Code != command.CodeFenced {
		t.Errorf("standby's audit trail %+v, want the fenced write", audits)
	}
	if r := postWrite(t, baseA, token, "Kiln.Setpoint", 8); r.code != http.StatusOK {
		t.Fatalf("write through the active: %d %+v", r.code, r.audit)
	}
	if n := l.batchesFrom("gw-2"); n != 0 {
		t.Errorf("the standby forwarded %d batches", n)
	}

	// Switchover: refused without the token, then done by the active.
	if code := switchover(t, a, ""); code != http.StatusUnauthorized {
		t.Errorf("switchover without a token: %d, want 401", code)
	}
	if code := switchover(t, b, token); code != http.StatusConflict {
		t.Errorf("switchover asked of the standby: %d, want 409", code)
	}
	if code := switchover(t, a, token); code != http.StatusOK {
		t.Fatalf("switchover: %d", code)
	}
	eventually(t, 30*time.Second, "node 2 active after the switchover", func() bool {
		sa, sb := role(t, a), role(t, b)
		return sb.HA.Role == ha.RoleActive && sa.HA.Role == ha.RoleStandby
	})
	getJSON(t, baseA+"/api/audit", &audits)
	var switched bool
	for _, au := range audits {
		if au.Tag == "ha:switchover" && au.Who == "alice" && au.Code == command.CodeOK {
			switched = true
		}
	}
	if !switched {
		t.Errorf("node 1's audit trail %+v lacks alice's switchover", audits)
	}
	if c := role(t, b).HA.LastChange; c == nil || !strings.Contains(c.Cause, "switchover") {
		t.Errorf("node 2's last change %+v, want a switchover as its cause", c)
	}
	eventually(t, 30*time.Second, "batches of node 2 at the uplink", func() bool { return l.batchesFrom("gw-2") > 0 })
	if r := postWrite(t, baseA, token, "Kiln.Setpoint", 9); r.audit.Code != command.CodeFenced {
		t.Errorf("write through the old active after the switchover: %+v, want fenced", r.audit)
	}
	if r := postWrite(t, baseB, token, "Kiln.Setpoint", 10); r.code != http.StatusOK {
		t.Errorf("write through the new active: %d %+v", r.code, r.audit)
	}
	if n := l.checkNoFencedWrite(); n != 2 {
		t.Errorf("the PLC applied %d setpoint writes, want the 2 of the active nodes", n)
	}
}

// TestHAPairReportsAConfigurationMismatch: a standby whose point database
// differs from the active's is reported by both nodes, in /api/status
// and as a /healthz problem (503), instead of running two views.
func TestHAPairReportsAConfigurationMismatch(t *testing.T) {
	l := newHALab(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	other := haTags + "  - {name: Kiln.Extra, device: plc1, address: DB1.DBW8, type: INT, group: fast}\n"
	a := l.start(l.config(1, ha.RoleActive, addrA, addrB, haTags))
	b := l.start(l.config(2, ha.RoleStandby, addrB, addrA, other))
	for _, g := range []*gateway.Gateway{a, b} {
		eventually(t, 30*time.Second, g.Addr()+" reporting the mismatch", func() bool {
			p := role(t, g).HA.Problems
			return len(p) == 1 && strings.Contains(p[0], "configuration differs")
		})
		var h struct {
			Ready    bool     `json:"ready"`
			Problems []string `json:"problems"`
		}
		if code := getJSON(t, "http://"+g.Addr()+"/healthz", &h); code != http.StatusServiceUnavailable || h.Ready {
			t.Errorf("%s /healthz %d %+v, want 503 naming the mismatch", g.Addr(), code, h)
		}
	}
}
