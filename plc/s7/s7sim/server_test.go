package s7sim

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robinson/gos7"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg Config, opts ...Option) *Server {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// connectGos7 connects the real gos7 client with rack 0, slot 1.
func connectGos7(t *testing.T, addr string, rack, slot int) (gos7.Client, *gos7.TCPClientHandler, error) {
	t.Helper()
	h := gos7.NewTCPClientHandler(addr, rack, slot)
	h.Timeout = 2 * time.Second
	h.IdleTimeout = 0
	if err := h.Connect(); err != nil {
		_ = h.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { _ = h.Close() })
	return gos7.NewClient(h), h, nil
}

func TestGos7ReadWriteRoundTrip(t *testing.T) {
	var mu sync.Mutex
	var events []WriteEvent
	s := start(t, Config{DBs: map[int]int{1: 100, 7: 10}}, WithOnWrite(func(e WriteEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	c, h, err := connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h.PDULength != 480 {
		t.Errorf("negotiated PDU %d, want 480", h.PDULength)
	}
	if err := c.AGWriteDB(1, 10, 4, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if err := c.AGReadDB(1, 9, 6, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, []byte{0, 1, 2, 3, 4, 0}) {
		t.Errorf("read % x", buf)
	}
	got, _ := s.ReadBytes(s7.AreaDB, 1, 10, 4)
	if !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("memory % x", got)
	}
	mu.Lock()
	if len(events) != 1 {
		t.Fatalf("write events %+v", events)
	}
	ev := events[0]
	if ev.Area != s7.AreaDB || ev.DB != 1 || ev.Offset != 10 || ev.Length != 4 || ev.Bit != -1 ||
		!bytes.Equal(ev.Data, []byte{1, 2, 3, 4}) || ev.Seq != 1 || ev.Client == "" || ev.ClientTSAP == 0 {
		t.Errorf("write event %+v", ev)
	}
	mu.Unlock()
	if err := c.AGWriteMB(3, 1, []byte{0x5A}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get("MB3"); err != nil || v.Float() != 0x5A {
		t.Errorf("MB3 = %v, %v", v, err)
	}
	// A read larger than the PDU is split by gos7 into several requests.
	before := s.Requests()
	big := make([]byte, 100)
	if err := c.AGReadDB(1, 0, 100, big); err != nil {
		t.Fatal(err)
	}
	if s.Requests() != before+1 {
		t.Errorf("requests grew by %d, want 1", s.Requests()-before)
	}
	if s.Violations() != 0 {
		t.Errorf("violations %d", s.Violations())
	}
}

func TestGos7ItemErrors(t *testing.T) {
	s := start(t, Config{DBs: map[int]int{1: 10}})
	c, _, err := connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if err := c.AGReadDB(2, 0, 2, buf); err == nil {
		t.Error("read of a missing DB succeeded")
	}
	if err := c.AGReadDB(1, 8, 4, buf); err == nil {
		t.Error("read past the end of DB1 succeeded")
	}
	items := []gos7.S7DataItem{
		{Area: 0x84, WordLen: 0x02, DBNumber: 1, Start: 0, Amount: 2, Data: make([]byte, 2)},
		{Area: 0x84, WordLen: 0x02, DBNumber: 9, Start: 0, Amount: 2, Data: make([]byte, 2)},
		{Area: 0x84, WordLen: 0x02, DBNumber: 1, Start: 9, Amount: 2, Data: make([]byte, 2)},
		{Area: 0x84, WordLen: 0x1D, DBNumber: 1, Start: 0, Amount: 1, Data: make([]byte, 2)},
	}
	if err := c.AGReadMulti(items, len(items)); err != nil {
		t.Fatal(err)
	}
	if items[0].Error != "" || items[1].Error == "" || items[2].Error == "" || items[3].Error == "" {
		t.Errorf("item errors %q %q %q %q", items[0].Error, items[1].Error, items[2].Error, items[3].Error)
	}
	s.SetItemError(s7.AreaDB, 1, 1, s7.CodeAccessDenied)
	if err := c.AGReadDB(1, 0, 2, buf); err == nil {
		t.Error("read of an item with an injected error succeeded")
	}
	s.ClearItemErrors()
	if err := c.AGReadDB(1, 0, 2, buf); err != nil {
		t.Errorf("after ClearItemErrors: %v", err)
	}
}

func TestTSAPChecked(t *testing.T) {
	s := start(t, Config{Rack: 0, Slot: 2})
	if _, _, err := connectGos7(t, s.Addr(), 0, 1); err == nil {
		t.Error("connection to slot 1 of a CPU in slot 2 succeeded")
	}
	if _, _, err := connectGos7(t, s.Addr(), 0, 2); err != nil {
		t.Errorf("connection to slot 2: %v", err)
	}
}

func TestPDUNegotiatedDown(t *testing.T) {
	s := start(t, Config{MaxPDU: 240})
	_, h, err := connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h.PDULength != 240 {
		t.Errorf("negotiated %d, want 240", h.PDULength)
	}
}

func TestStopStartSamePort(t *testing.T) {
	s := start(t, Config{})
	addr := s.Addr()
	if err := s.Set("DB1.DBW0:INT", plc.IntValue(plc.Int, -5)); err != nil {
		t.Fatal(err)
	}
	c, _, err := connectGos7(t, addr, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 0 {
		t.Errorf("%d connections after Stop", s.Connections())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("dial succeeded while stopped")
	}
	buf := make([]byte, 2)
	if err := c.AGReadDB(1, 0, 2, buf); err == nil {
		t.Error("read on a stopped server succeeded")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("restarted on %s, want %s", s.Addr(), addr)
	}
	c2, _, err := connectGos7(t, addr, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.AGReadDB(1, 0, 2, buf); err != nil || !bytes.Equal(buf, []byte{0xFF, 0xFB}) {
		t.Errorf("after restart: % x, %v", buf, err)
	}
	_ = s.Close()
	if err := s.Start(); err != ErrClosed {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestFaults(t *testing.T) {
	s := start(t, Config{})
	c, _, err := connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	s.DropAfter(2)
	if err := c.AGReadDB(1, 0, 2, buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	if err := c.AGReadDB(1, 0, 2, buf); err == nil {
		t.Error("second read survived DropAfter(2)")
	}
	s.RefuseConnections(true)
	if _, _, err := connectGos7(t, s.Addr(), 0, 1); err == nil {
		t.Error("connection accepted while refusing")
	}
	s.RefuseConnections(false)
	c, _, err = connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLatency(20 * time.Millisecond)
	if err := c.AGReadDB(1, 0, 2, buf); err != nil {
		t.Errorf("read with latency: %v", err)
	}
}

func TestMemoryAccess(t *testing.T) {
	s := start(t, Config{DBs: map[int]int{3: 300}})
	cases := []struct {
		addr string
		v    plc.Value
	}{
		{"DB3.DBX1.3", plc.BoolValue(true)},
		{"DB3.DBD4:REAL", plc.FloatValue(plc.Real, 1.5)},
		{"DB3.DBB8:LINT", plc.IntValue(plc.LInt, -1<<62)},
		{"DB3.DBB20[10]", plc.StringValue("kiln")},
		{"QW2:INT", plc.IntValue(plc.Int, -300)},
		{"I0.7", plc.BoolValue(true)},
	}
	for _, c := range cases {
		if err := s.Set(c.addr, c.v); err != nil {
			t.Fatalf("Set %s: %v", c.addr, err)
		}
		got, err := s.Get(c.addr)
		if err != nil || !got.Equal(c.v) {
			t.Errorf("Get %s = %v, %v; want %v", c.addr, got, err, c.v)
		}
	}
	if b, _ := s.ReadBytes(s7.AreaDB, 3, 1, 1); b[0] != 0x08 {
		t.Errorf("bit 3 of DB3.DBB1: byte % x", b)
	}
	if _, err := s.Get("DB4.DBW0"); err == nil {
		t.Error("Get of a missing DB succeeded")
	}
	if err := s.WriteBytes(s7.AreaDB, 3, 299, []byte{1, 2}); err == nil {
		t.Error("WriteBytes past the end succeeded")
	}
	if got := s.DBs(); len(got) != 1 || got[0] != 3 {
		t.Errorf("DBs = %v", got)
	}
}

func TestLimitsEnforced(t *testing.T) {
	s, err := New(Config{MaxItems: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := &connState{connected: true, pdu: 240}
	items := make([]wire.Item, 3)
	for i := range items {
		items[i] = wire.Item{TS: wire.TSByte, Count: 2, DB: 1, Area: wire.AreaDB, Start: i * 2}
	}
	resp, closeConn := s.process(st, wire.Frame(wire.ReadRequest(1, items)))
	if closeConn || s.Violations() != 1 {
		t.Fatalf("3 items with MaxItems 2: close %v, violations %d", closeConn, s.Violations())
	}
	if _, _, err := wire.ParseReadResponse(resp[wire.IsoHeaderLen:], 0); err == nil {
		t.Error("too many items answered without a header error")
	}
	// An answer larger than the PDU is refused and counted.
	big := []wire.Item{{TS: wire.TSByte, Count: 300, DB: 1, Area: wire.AreaDB}}
	if _, closeConn := s.process(st, wire.Frame(wire.ReadRequest(2, big))); closeConn || s.Violations() != 2 {
		t.Errorf("answer over the PDU: close %v, violations %d", closeConn, s.Violations())
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{{MaxPDU: 10}, {MaxItems: 300}, {DBs: map[int]int{0: 10}}, {DBs: map[int]int{1: -1}}, {Rack: 9}, {MaxJobs: -1}}
	for _, c := range bad {
		if _, err := New(c); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("New(%+v): %v, want a *config.FieldError", c, err)
		}
	}
	// Every problem is reported, each with its YAML path.
	err := Config{MaxPDU: 10, Rack: 9, MSize: -1, DBs: map[int]int{3: -1}, MaxJobs: -2}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if got := strings.Join(paths, " "); got != "max_pdu m_size rack max_jobs dbs.3" {
		t.Errorf("paths %q", got)
	}
}

func TestGos7SystemStatusLists(t *testing.T) {
	s := start(t, Config{MaxPDU: 240})
	c, _, err := connectGos7(t, s.Addr(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.GetCPUInfo()
	if err != nil {
		t.Fatal(err)
	}
	want := gos7.S7CpuInfo{ModuleTypeName: cpuModuleType, SerialNumber: cpuSerial, ASName: cpuASName, Copyright: cpuCopyright, ModuleName: cpuModuleName}
	if info != want {
		t.Errorf("CPU info %+v, want %+v", info, want)
	}
	cp, err := c.GetCPInfo()
	if err != nil || cp.MaxPduLength != 240 || cp.MaxConnections != 32 {
		t.Errorf("CP info %+v, %v", cp, err)
	}
	if st, err := c.PLCGetStatus(); err != nil || st != 8 {
		t.Errorf("status %d, %v; want 8 (RUN)", st, err)
	}
	if s.Violations() != 0 {
		t.Errorf("violations %d", s.Violations())
	}
}

// TestManyConcurrentConnections serves 16 gos7 clients at once, each
// writing and reading back its own word many times.
func TestManyConcurrentConnections(t *testing.T) {
	s := start(t, Config{DBs: map[int]int{1: 64}})
	const clients = 16
	cs := make([]gos7.Client, clients)
	for i := range cs {
		c, _, err := connectGos7(t, s.Addr(), 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	if n := s.Connections(); n != clients {
		t.Errorf("%d connections, want %d", n, clients)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			buf := make([]byte, 2)
			for n := range 50 {
				want := []byte{byte(i), byte(n)}
				if err := c.AGWriteDB(1, 2*i, 2, want); err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				if err := c.AGReadDB(1, 2*i, 2, buf); err != nil || !bytes.Equal(buf, want) {
					t.Errorf("client %d read % x, %v; want % x", i, buf, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := s.Requests(); got != clients*100 {
		t.Errorf("%d requests, want %d", got, clients*100)
	}
}
