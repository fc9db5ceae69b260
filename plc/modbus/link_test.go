package modbus_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	smb "github.com/simonvetter/modbus"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func TestTransactionsInFlightReorderedAndOneLost(t *testing.T) {
	srv := startSim(t, modbussim.Config{InFlight: 8})
	// Every answer takes a while, the first's longer: it comes last; the
	// second's never comes.
	srv.SetLatency(200 * time.Millisecond)
	srv.SetFault(1, modbus.HoldingRegisters, 0, modbussim.Fault{Latency: 500 * time.Millisecond})
	srv.SetFault(1, modbus.HoldingRegisters, 200, modbussim.Fault{Drop: true})
	var tags []plc.Tag
	for i := range 8 {
		a := fmt.Sprintf("HR%d:DINT", 1+i*200)
		_ = srv.Set(a, plc.IntValue(plc.DInt, int64(1000+i)))
		tags = append(tags, tag(a, a))
	}
	cfg := fastCfg()
	cfg.InFlight, cfg.Gap, cfg.Timeout = 4, modbus.NoGap, 2*time.Second
	reg := newRegistry()
	d := open(t, srv.Addr(), cfg, modbus.WithRegisterer(reg))
	out := read(t, d, tags...)
	for i, s := range out {
		if i == 1 {
			if s.Quality.Reason != plc.ReasonCommFailure || s.Quality.Detail != "timeout" {
				t.Errorf("lost answer: %v", s.Quality)
			}
			continue
		}
		if !s.Quality.IsGood() || s.Value.Float() != float64(1000+i) {
			t.Errorf("%s = %v (%v)", s.Tag, s.Value, s.Quality)
		}
	}
	if p := srv.PeakInFlight(); p < 2 || p > 4 {
		t.Errorf("peak in flight %d, want 2..4", p)
	}
	// Other answers came while the lost one was awaited: the connection
	// is kept.
	if n := gatherValue(t, reg, "kiln_modbus_reconnects_total"); n != 0 {
		t.Errorf("reconnects = %v", n)
	}
	srv.ClearFaults()
	out = read(t, d, tags[1])
	if !out[0].Quality.IsGood() || out[0].Value.Float() != 1001 {
		t.Errorf("after the loss: %v (%v)", out[0].Value, out[0].Quality)
	}
}

func TestOneInFlightSendsOneAtATime(t *testing.T) {
	srv := startSim(t, modbussim.Config{InFlight: 8})
	srv.SetLatency(5 * time.Millisecond)
	var tags []plc.Tag
	for i := range 6 {
		tags = append(tags, tag(fmt.Sprint(i), fmt.Sprintf("HR%d", 1+i*300)))
	}
	d := open(t, srv.Addr(), fastCfg())
	out := read(t, d, tags...)
	for _, s := range out {
		if !s.Quality.IsGood() {
			t.Errorf("%s: %v", s.Tag, s.Quality)
		}
	}
	if p := srv.PeakInFlight(); p != 1 {
		t.Errorf("peak in flight %d, want 1", p)
	}
}

// handler is a register memory for simonvetter/modbus's server.
type handler struct {
	mu   sync.Mutex
	regs [100]uint16
}

func (h *handler) HandleCoils(*smb.CoilsRequest) ([]bool, error) { return nil, smb.ErrIllegalFunction }
func (h *handler) HandleDiscreteInputs(*smb.DiscreteInputsRequest) ([]bool, error) {
	return nil, smb.ErrIllegalFunction
}
func (h *handler) HandleInputRegisters(*smb.InputRegistersRequest) ([]uint16, error) {
	return nil, smb.ErrIllegalFunction
}
func (h *handler) HandleHoldingRegisters(req *smb.HoldingRegistersRequest) ([]uint16, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(h.regs) {
		return nil, smb.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(h.regs[req.Addr:], req.Args)
		return req.Args, nil
	}
	return append([]uint16(nil), h.regs[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

// TestAgainstReferenceServer reads and writes simonvetter/modbus's
// server, an implementation independent of the simulator.
func TestAgainstReferenceServer(t *testing.T) {
	h := &handler{}
	h.regs[10], h.regs[11] = 0x41AC, 0x0000 // 21.5
	var srv *smb.ModbusServer
	var addr string
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		_ = ln.Close()
		srv, err = smb.NewServer(&smb.ServerConfiguration{URL: "tcp://" + addr}, h)
		if err == nil {
			err = srv.Start()
		}
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("reference server: %v", err)
		}
	}
	defer srv.Stop()
	cfg := fastCfg()
	cfg.ZeroBased = true
	d := open(t, addr, cfg)
	out := read(t, d, tag("t", "HR10:REAL"), tag("x", "HR99"), tag("gone", "HR150"))
	if !out[0].Quality.IsGood() || out[0].Value.Float() != 21.5 || !out[1].Quality.IsGood() {
		t.Errorf("got %v (%v), %v", out[0].Value, out[0].Quality, out[1].Quality)
	}
	if out[2].Quality.Code != uint32(modbus.ExIllegalDataAddress) {
		t.Errorf("HR150: %v", out[2].Quality)
	}
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("t", "HR20:LREAL:CDAB"), Value: plc.FloatValue(plc.LReal, 1.5)}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	h.mu.Lock()
	got := h.regs[20:24]
	h.mu.Unlock()
	// 1.5 is 0x3FF8000000000000; CDAB puts the last word first.
	if got[0] != 0 || got[3] != 0x3FF8 {
		t.Errorf("LREAL CDAB written as %04x", got)
	}
}

// rtuGateway serves RTU over TCP from srv: every connection is one
// serial line. accepted counts the connections.
func rtuGateway(t *testing.T, srv *modbussim.Server) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	accepted = new(atomic.Int32)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() { _ = srv.ServeRTU(ctx, c) })
		}
	})
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

func TestUnitsBehindOneRTUGatewayShareItsLine(t *testing.T) {
	srv := startSim(t, modbussim.Config{Units: []uint8{3, 4}})
	srv.SetLatency(2 * time.Millisecond)
	gw, accepted := rtuGateway(t, srv)
	var drivers []*modbus.Driver
	for _, unit := range []int{3, 4} {
		_ = srv.Set(fmt.Sprintf("%d!HR1:REAL", unit), plc.FloatValue(plc.Real, float64(unit)+0.5))
		cfg := fastCfg()
		cfg.Mode, cfg.Unit, cfg.Delay, cfg.Timeout = modbus.ModeRTUOverTCP, unit, time.Millisecond, time.Second
		drivers = append(drivers, open(t, gw, cfg))
	}
	var wg sync.WaitGroup
	for i, d := range drivers {
		wg.Go(func() {
			r, err := d.Prepare([]plc.Tag{tag("t", "HR1:REAL"), tag("u", "HR50")})
			if err != nil {
				t.Error(err)
				return
			}
			for range 20 {
				out := make([]plc.Sample, 2)
				if err := r.Read(context.Background(), out); err != nil {
					t.Error(err)
					return
				}
				if !out[0].Quality.IsGood() || out[0].Value.Float() != float64(3+i)+0.5 || !out[1].Quality.IsGood() {
					t.Errorf("unit %d: %v (%v), %v", 3+i, out[0].Value, out[0].Quality, out[1].Quality)
					return
				}
			}
			// Unit 9 is not on the line: it times out, and the next
			// read of the others is good again.
			once := func(tg plc.Tag) plc.Quality {
				out := make([]plc.Sample, 1)
				r, err := d.Prepare([]plc.Tag{tg})
				if err == nil {
					err = r.Read(context.Background(), out)
				}
				if err != nil {
					t.Error(err)
				}
				return out[0].Quality
			}
			if q := once(tag("9", "9!HR1")); q.Detail != "timeout" {
				t.Errorf("unit 9: %v", q)
			}
			if q := once(tag("t", "HR1:REAL")); !q.IsGood() {
				t.Errorf("unit %d after unit 9 timed out: %v", 3+i, q)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections to the gateway, want 1", n)
	}
	if p := srv.PeakInFlight(); p != 1 {
		t.Errorf("peak in flight on the line %d, want 1", p)
	}
}

// ptyPair makes a pseudo-terminal pair with socat and returns the two
// device paths.
func ptyPair(t *testing.T) (string, string) {
	t.Helper()
	path, err := exec.LookPath("socat")
	if err != nil {
		t.Fatalf("socat is needed for the RTU tests (scripts/test installs it): %v", err)
	}
	cmd := exec.Command(path, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	re := regexp.MustCompile(`PTY is (\S+)`)
	sc := bufio.NewScanner(stderr)
	var ptys []string
	for len(ptys) < 2 && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			ptys = append(ptys, m[1])
		}
	}
	if len(ptys) < 2 {
		t.Fatalf("socat gave no pty pair: %v", sc.Err())
	}
	go func() { // keep socat's stderr drained
		for sc.Scan() {
		}
	}()
	return ptys[0], ptys[1]
}

func TestRTUOverSerialPseudoTerminal(t *testing.T) {
	devSide, hostSide := ptyPair(t)
	srv := startSim(t, modbussim.Config{Units: []uint8{1, 2}})
	_ = srv.Set("HR1:REAL:CDAB", plc.FloatValue(plc.Real, 19.25))
	_ = srv.Set("2!IR5:DINT", plc.IntValue(plc.DInt, -77))
	_ = srv.Set("CO3", plc.BoolValue(true))
	f, err := os.OpenFile(devSide, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.ServeRTU(ctx, f) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	cfg := fastCfg()
	cfg.Mode, cfg.Baud, cfg.Parity, cfg.Delay = modbus.ModeRTU, 19200, "N", 2*time.Millisecond
	d := open(t, hostSide, cfg)
	out := read(t, d, tag("a", "HR1:REAL:CDAB"), tag("b", "2!IR5:DINT"), tag("c", "CO3"))
	if !out[0].Quality.IsGood() || out[0].Value.Float() != 19.25 ||
		!out[1].Quality.IsGood() || out[1].Value.Float() != -77 ||
		!out[2].Quality.IsGood() || !out[2].Value.Bool() {
		t.Fatalf("over RTU: %v", out)
	}
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tag("w", "HR10:LREAL"), Value: plc.FloatValue(plc.LReal, 0.5)}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if v, err := srv.Get("HR10:LREAL"); err != nil || v.Float() != 0.5 {
		t.Errorf("written over RTU: %v, %v", v, err)
	}
	_ = d.Close()
}

func TestInterRequestDelayOnTheInjectedClock(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	_ = srv.Set("HR1", plc.UintValue(plc.UInt, 5))
	gw, _ := rtuGateway(t, srv)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := fastCfg()
	cfg.Mode, cfg.Delay = modbus.ModeRTUOverTCP, time.Second
	d := open(t, gw, cfg, modbus.WithClock(clk))
	r, err := d.Prepare([]plc.Tag{tag("x", "HR1")})
	if err != nil {
		t.Fatal(err)
	}
	if out := readWith(t, r, 1); !out[0].Quality.IsGood() {
		t.Fatal(out[0].Quality)
	}
	sent := srv.Requests()
	done := make(chan plc.Sample, 1)
	go func() {
		out := make([]plc.Sample, 1)
		_ = r.Read(context.Background(), out)
		done <- out[0]
	}()
	clk.BlockUntil(1) // the next request waits out the delay
	if n := srv.Requests(); n != sent {
		t.Fatalf("%d requests sent during the delay", n-sent)
	}
	clk.Advance(time.Second)
	if s := <-done; !s.Quality.IsGood() || srv.Requests() != sent+1 {
		t.Errorf("after the delay: %v, %d requests", s.Quality, srv.Requests()-sent)
	}
}

func TestDeviceDroppingConnectionsIsReconnected(t *testing.T) {
	srv := startSim(t, modbussim.Config{})
	_ = srv.Set("HR1", plc.UintValue(plc.UInt, 9))
	srv.DropAfter(3)
	d := open(t, srv.Addr(), fastCfg())
	r, err := d.Prepare([]plc.Tag{tag("x", "HR1")})
	if err != nil {
		t.Fatal(err)
	}
	good, bad := 0, 0
	for good < 10 {
		out := readWith(t, r, 1)
		switch {
		case out[0].Quality.IsGood() && out[0].Value.Float() == 9:
			good++
		case out[0].Quality.Reason == plc.ReasonCommFailure:
			bad++
			time.Sleep(5 * time.Millisecond) // a reader polls at its scan rate
		default:
			t.Fatalf("got %v (%v)", out[0].Value, out[0].Quality)
		}
		if bad > 10000 {
			t.Fatal("no good reads after the drops")
		}
	}
	if bad == 0 {
		t.Error("the dropped connections never showed as bad reads")
	}
}
