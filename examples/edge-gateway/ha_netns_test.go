//go:build linux

package main

import (
	"bytes"
	"context"
	be "encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/internal/netns"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

// The PLC and the broker each have one address, on their namespace's
// loopback, routed over each gateway's own link, so both nodes have the
// same configuration (a PLC has one address on the plant LAN).
const (
	plcIP    = "169.254.251.1"
	brokerIP = "169.254.250.1"
)

// pairLab is two gateway processes (nodes 1 and 2) in namespaces "a" and
// "b", each with its own link to "plc" (s7sim, in-process) and "uplink"
// (pulsartest, in-process), and a link between them.
type pairLab struct {
	t              testing.TB
	lab            *netns.Lab
	a, b, plc, up  *netns.Host
	aPLC, bPLC, aB *netns.Link
	srv            *s7sim.Server
	broker         *pulsartest.Broker
	dir            string
	mu             sync.Mutex
	writes         []s7sim.WriteEvent
	procs          map[uint32]*exec.Cmd
	hosts          map[uint32]*netns.Host
	httpAddr       map[uint32]string
	clients        map[uint32]*http.Client
	logs           map[uint32]*bytes.Buffer
	waited         map[uint32]chan struct{}
}

func inNS(t testing.TB, h *netns.Host, args ...string) {
	t.Helper()
	if out, err := h.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func newPairLab(t testing.TB) *pairLab {
	t.Helper()
	l := &pairLab{t: t, lab: netns.New(t), dir: t.TempDir(), procs: map[uint32]*exec.Cmd{}, hosts: map[uint32]*netns.Host{},
		httpAddr: map[uint32]string{}, clients: map[uint32]*http.Client{}, logs: map[uint32]*bytes.Buffer{}, waited: map[uint32]chan struct{}{}}
	l.a, l.b, l.plc, l.up = l.lab.Host("a"), l.lab.Host("b"), l.lab.Host("plc"), l.lab.Host("uplink")
	l.aPLC, l.bPLC, l.aB = l.lab.Link(l.a, l.plc), l.lab.Link(l.b, l.plc), l.lab.Link(l.a, l.b)
	aUp, bUp := l.lab.Link(l.a, l.up), l.lab.Link(l.b, l.up)
	for _, s := range []struct {
		host   *netns.Host
		ip     string
		routes map[*netns.Host]*netns.Link
	}{{l.plc, plcIP, map[*netns.Host]*netns.Link{l.a: l.aPLC, l.b: l.bPLC}}, {l.up, brokerIP, map[*netns.Host]*netns.Link{l.a: aUp, l.b: bUp}}} {
		inNS(t, s.host, "ip", "link", "set", "lo", "up")
		inNS(t, s.host, "ip", "addr", "add", s.ip+"/32", "dev", "lo")
		for gw, link := range s.routes {
			inNS(t, gw, "ip", "route", "add", s.ip+"/32", "via", link.Addr(s.host))
		}
	}
	for _, h := range []*netns.Host{l.a, l.b} {
		inNS(t, h, "ip", "link", "set", "lo", "up")
	}
	if err := l.plc.Do(func() error {
		var err error
		l.srv, err = s7sim.New(s7sim.Config{Addr: plcIP + ":102", DBs: map[int]int{1: 64, 100: 16}}, s7sim.WithOnWrite(func(ev s7sim.WriteEvent) {
			l.mu.Lock()
			l.writes = append(l.writes, ev)
			l.mu.Unlock()
		}))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.srv.Close() })
	if err := l.up.Do(func() error {
		var err error
		l.broker, err = pulsartest.New(pulsartest.Config{Addr: brokerIP + ":6650"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.broker.Close() })
	l.hosts[1], l.hosts[2] = l.a, l.b
	l.httpAddr[1], l.httpAddr[2] = net.JoinHostPort(l.aB.Addr(l.a), "8080"), net.JoinHostPort(l.aB.Addr(l.b), "8080")
	for id, h := range l.hosts {
		l.clients[id] = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) { return h.Dial(network, addr) }}}
	}
	return l
}

const pairTags = "groups:\n  - {name: fast, rate: 100ms, full_refresh: 500ms}\n" +
	"tags:\n" +
	"  - {name: Kiln.Setpoint, device: plc1, address: DB1.DBW0, type: INT, group: fast, access: rw}\n" +
	"  - {name: Kiln.Temp, device: plc1, address: DB1.DBD4, type: REAL, group: fast}\n"

// start runs node id's gateway process (again, on the same data
// directory, after a kill).
func (l *pairLab) start(id uint32) {
	l.t.Helper()
	dir := filepath.Join(l.dir, fmt.Sprint(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	preferred, peer := "active", l.httpAddr[2]
	if id == 2 {
		preferred, peer = "standby", l.httpAddr[1]
	}
	cfg := fmt.Sprintf(`id: gw-%[1]d
tenant: acme
token: s3cret
demo: "off"
data_dir: "%[2]s"
devices:
  - {name: plc1, driver: s7, endpoint: "%[3]s:102", options: {local_tsap: "0x%04[4]x", retry.initial: 50ms, retry.max: 200ms, timeout: 500ms, connect_timeout: 500ms}}
tag_files: ["%[2]s/tags.yaml"]
transport:
  kind: pulsar
  pulsar: {client: {url: "pulsar://%[5]s:6650"}, topic: "persistent://acme/plant/samples"}
  command_topic: "off"
http: {listen: "0.0.0.0:8080"}%[6]s
ha:
  node_id: %[1]d
  preferred_role: %[7]s
  failover_timeout: 2s
  peer: "%[8]s"
  lease: {device: plc1, holder: DB100.DBD0, epoch: DB100.DBD4, counter: DB100.DBD8}
`, id, dir, plcIP, 0x0100+id, brokerIP, "", preferred, peer)
	for name, text := range map[string]string{"gateway.yaml": cfg, "tags.yaml": pairTags} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
	cmd := l.hosts[id].Command(binary(l.t), "-config", filepath.Join(dir, "gateway.yaml"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	l.mu.Lock()
	l.procs[id], l.logs[id], l.waited[id] = cmd, &log, done
	l.mu.Unlock()
	l.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-done
		if l.t.Failed() {
			l.t.Logf("node %d output:\n%s", id, log.String())
		}
	})
}

// signal sends sig to node id's process; for SIGKILL it waits for the
// process to end.
func (l *pairLab) signal(id uint32, sig syscall.Signal) {
	l.t.Helper()
	if err := l.procs[id].Process.Signal(sig); err != nil {
		l.t.Fatal(err)
	}
	if sig == syscall.SIGKILL {
		<-l.waited[id]
	}
}

type nodeStatus struct {
	HA struct {
		Role  string `json:"role"`
		Lease struct {
			Holder uint32 `json:"Holder"`
			Epoch  uint32 `json:"Epoch"`
		} `json:"lease"`
	} `json:"ha"`
}

// role returns node id's role, "" while it does not answer.
func (l *pairLab) role(id uint32) string {
	resp, err := l.clients[id].Get("http://127.0.0.1:8080/api/status")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st nodeStatus
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	return st.HA.Role
}

// write posts a setpoint write to node id and returns the HTTP status
// and the audit code.
func (l *pairLab) write(id uint32, v int) (int, string) {
	l.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/api/tags/Kiln.Setpoint/write", bytes.NewReader([]byte(fmt.Sprintf(`{"value": %d}`, v))))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := l.clients[id].Do(req)
	if err != nil {
		l.t.Fatalf("write through node %d: %v", id, err)
	}
	defer resp.Body.Close()
	var a struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a.Code
}

func (l *pairLab) waitFor(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pair starts both nodes and waits for node 1 active, node 2 standby.
func (l *pairLab) pair() {
	l.t.Helper()
	l.start(1)
	l.waitFor("node 1 active", func() bool { return l.role(1) == "active" })
	l.start(2)
	l.waitFor("node 2 standby", func() bool { return l.role(2) == "standby" })
}

// checkWriteLog replays the PLC's write log in memory order: every write
// to DB1 came from the node the lease words named at that moment.
func (l *pairLab) checkWriteLog() (applied map[uint32]int) {
	l.t.Helper()
	l.mu.Lock()
	evs := slices.Clone(l.writes)
	l.mu.Unlock()
	slices.SortFunc(evs, func(x, y s7sim.WriteEvent) int { return int(x.Seq) - int(y.Seq) })
	applied = map[uint32]int{}
	var lease [12]byte
	for _, ev := range evs {
		switch ev.DB {
		case 100:
			copy(lease[ev.Offset:], ev.Data)
		case 1:
			holder, writer := be.BigEndian.Uint32(lease[0:4]), uint32(ev.ClientTSAP)-0x0100
			if writer != holder {
				l.t.Errorf("DUAL WRITER: write %d by node %d applied while the lease named node %d", ev.Seq, writer, holder)
			}
			applied[writer]++
		}
	}
	return applied
}

// TestHAProcesses runs the pair as real processes in network namespaces
// through the failures of a plant LAN; in every case exactly one node
// ends active, it serves writes, the other's are refused as fenced, and
// the PLC's own write log holds no write applied by a node the lease did
// not name.
func TestHAProcesses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fault breaks node 1 (the active) and returns a function that
		// ends the fault, or nil.
		fault func(l *pairLab) func()
		// old is whether node 1 still runs after the fault to be fenced.
		old bool
	}{
		{"SIGKILL of the active", func(l *pairLab) func() { l.signal(1, syscall.SIGKILL); return nil }, false},
		{"SIGSTOP longer than the timeout, then SIGCONT", func(l *pairLab) func() {
			l.signal(1, syscall.SIGSTOP)
			return func() { l.signal(1, syscall.SIGCONT) }
		}, true},
		{"the active loses the PLC", func(l *pairLab) func() {
			l.aPLC.Cut()
			return func() {
				// A link that went down took its routes along.
				l.aPLC.Restore()
				inNS(l.t, l.a, "ip", "route", "replace", plcIP+"/32", "via", l.aPLC.Addr(l.plc))
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newPairLab(t)
			l.pair()
			if code, c := l.write(1, 1); code != http.StatusOK {
				t.Fatalf("write through the active: %d %s", code, c)
			}
			if code, c := l.write(2, 2); code != http.StatusConflict || c != "fenced" {
				t.Fatalf("write through the standby: %d %s, want 409 fenced", code, c)
			}
			end := tc.fault(l)
			l.waitFor("node 2 active", func() bool { return l.role(2) == "active" })
			if tc.old {
				// The old active, resumed or reconnected at once, must
				// not write: its first write is refused.
				end()
				if code, c := l.write(1, 3); code != http.StatusConflict || c != "fenced" {
					t.Errorf("write through the old active after the fault: %d %s, want 409 fenced", code, c)
				}
				l.waitFor("node 1 back as standby", func() bool { return l.role(1) == "standby" })
			} else {
				l.start(1)
				l.waitFor("node 1 back as standby", func() bool { return l.role(1) == "standby" })
			}
			if code, c := l.write(2, 4); code != http.StatusOK {
				t.Errorf("write through the new active: %d %s", code, c)
			}
			if code, c := l.write(1, 5); code != http.StatusConflict || c != "fenced" {
				t.Errorf("write through the new standby: %d %s, want 409 fenced", code, c)
			}
			if applied := l.checkWriteLog(); applied[1] != 1 || applied[2] != 1 {
				t.Errorf("setpoint writes applied by node: %v, want one each", applied)
			}
		})
	}
	t.Run("both start at once", func(t *testing.T) {
		l := newPairLab(t)
		l.start(1)
		l.start(2)
		l.waitFor("one active, one standby", func() bool {
			r1, r2 := l.role(1), l.role(2)
			return r1 == "active" && r2 == "standby" || r1 == "standby" && r2 == "active"
		})
		active, standby := uint32(1), uint32(2)
		if l.role(2) == "active" {
			active, standby = 2, 1
		}
		if code, c := l.write(active, 1); code != http.StatusOK {
			t.Errorf("write through the active: %d %s", code, c)
		}
		if code, c := l.write(standby, 2); code != http.StatusConflict || c != "fenced" {
			t.Errorf("write through the standby: %d %s, want fenced", code, c)
		}
		l.checkWriteLog()
	})
	t.Run("the standby dies", func(t *testing.T) {
		l := newPairLab(t)
		l.pair()
		l.signal(2, syscall.SIGKILL)
		// Nothing changes: node 1 keeps the lease and keeps writing
		// through several timeouts.
		for i := range 3 {
			time.Sleep(time.Second)
			if code, c := l.write(1, 10+i); code != http.StatusOK {
				t.Fatalf("write through the active with its standby dead: %d %s", code, c)
			}
		}
		if applied := l.checkWriteLog(); applied[1] != 3 {
			t.Errorf("setpoint writes applied by node: %v, want 3 by node 1", applied)
		}
	})
	t.Run("a flapping link to the PLC", func(t *testing.T) {
		l := newPairLab(t)
		l.pair()
		// Node 1's PLC link goes down and up every 300 ms for 6 s (three
		// timeouts), writes tried through both nodes all along.
		for i := range 20 {
			if i%2 == 0 {
				l.aPLC.Cut()
			} else {
				l.aPLC.Restore()
				inNS(t, l.a, "ip", "route", "replace", plcIP+"/32", "via", l.aPLC.Addr(l.plc))
			}
			l.write(1, 100+i)
			l.write(2, 200+i)
			time.Sleep(300 * time.Millisecond)
		}
		l.aPLC.Restore()
		inNS(t, l.a, "ip", "route", "replace", plcIP+"/32", "via", l.aPLC.Addr(l.plc))
		l.waitFor("one active, one standby", func() bool {
			r1, r2 := l.role(1), l.role(2)
			return r1 == "active" && r2 == "standby" || r1 == "standby" && r2 == "active"
		})
		l.checkWriteLog()
	})
	t.Run("partition between the gateways", func(t *testing.T) {
		l := newPairLab(t)
		l.pair()
		l.aB.Cut()
		// Both still reach the PLC, so the lease keeps node 1 active:
		// node 2 watches the lease renewed and stays standby through
		// several timeouts (each node's heartbeat now fails).
		for i := 0; i < 30; i++ {
			if r := l.role(1); r != "active" {
				t.Fatalf("node 1 %q during the partition", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
		l.aB.Restore()
		if r := l.role(2); r != "standby" {
			t.Errorf("node 2 %q after the partition", r)
		}
		if code, c := l.write(2, 6); code != http.StatusConflict || c != "fenced" {
			t.Errorf("write through node 2: %d %s, want fenced", code, c)
		}
		l.checkWriteLog()
	})
}

// BenchmarkHAFailover repeats each failure of the active (b.N times,
// e.g. -benchtime=10x) and reports the standby's detection time (fault
// to its claim of the lease) and takeover time (fault to active, the
// first moment it may write), p50 and p99 in milliseconds, as seen
// through the standby's /api/status polled every 20 ms; the writes the
// old active had refused as fenced after the fault, and dual-writer
// events in the PLC's write log (must be 0).
func BenchmarkHAFailover(b *testing.B) {
	for _, tc := range []struct {
		name  string
		fault func(l *pairLab) func()
	}{
		{"sigkill", func(l *pairLab) func() { l.signal(1, syscall.SIGKILL); return func() {} }},
		{"sigstop", func(l *pairLab) func() {
			l.signal(1, syscall.SIGSTOP)
			return func() { l.signal(1, syscall.SIGCONT) }
		}},
		{"plc-cut", func(l *pairLab) func() { l.aPLC.Cut(); return l.aPLC.Restore }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var detect, takeover []time.Duration
			fenced, dual := 0, 0
			for range b.N {
				l := newPairLab(b)
				l.pair()
				start := time.Now()
				end := tc.fault(l)
				var claimed time.Duration
				for {
					r := l.role(2)
					if r != "standby" && r != "" && claimed == 0 {
						claimed = time.Since(start)
					}
					if r == "active" {
						break
					}
					if time.Since(start) > 30*time.Second {
						b.Fatal("no takeover in 30 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
				detect, takeover = append(detect, claimed), append(takeover, time.Since(start))
				end()
				if tc.name != "sigkill" {
					if code, _ := l.write(1, 1); code == http.StatusConflict {
						fenced++
					}
				}
				before := countFailures(b)
				l.checkWriteLog()
				dual += countFailures(b) - before
			}
			b.ReportMetric(pct(detect, 50), "detect-p50-ms")
			b.ReportMetric(pct(detect, 99), "detect-p99-ms")
			b.ReportMetric(pct(takeover, 50), "takeover-p50-ms")
			b.ReportMetric(pct(takeover, 99), "takeover-p99-ms")
			b.ReportMetric(float64(fenced), "fenced-writes")
			b.ReportMetric(float64(dual), "dual-writers")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// countFailures is 1 once b has failed (checkWriteLog fails it on a dual
// writer).
func countFailures(b *testing.B) int {
	if b.Failed() {
		return 1
	}
	return 0
}

// pct returns the p-th percentile of ds in milliseconds (nearest rank).
func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return float64(s[i-1].Milliseconds())
}
