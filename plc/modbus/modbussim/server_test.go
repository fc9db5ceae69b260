package modbussim_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	smb "github.com/simonvetter/modbus"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg modbussim.Config) *modbussim.Server {
	t.Helper()
	s, err := modbussim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client opens simonvetter/modbus's client, the independent reference
// the simulator is checked against.
func client(t *testing.T, url string, unit uint8) *smb.ModbusClient {
	t.Helper()
	c, err := smb.NewClient(&smb.ClientConfiguration{URL: url, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetUnitId(unit); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReferenceClientReadsAndWrites(t *testing.T) {
	s := start(t, modbussim.Config{Units: []uint8{1, 4}})
	if err := s.Set("4!HR11:REAL", plc.FloatValue(plc.Real, 21.5)); err != nil {
		t.Fatal(err)
	}
	_ = s.Set("4!IR1", plc.UintValue(plc.UInt, 77))
	_ = s.Set("4!DI2", plc.BoolValue(true))
	c := client(t, "tcp://"+s.Addr(), 4)
	if f, err := c.ReadFloat32(10, smb.HOLDING_REGISTER); err != nil || f != 21.5 {
		t.Errorf("ReadFloat32 = %v, %v", f, err)
	}
	if v, err := c.ReadRegister(0, smb.INPUT_REGISTER); err != nil || v != 77 {
		t.Errorf("input register = %v, %v", v, err)
	}
	if b, err := c.ReadDiscreteInputs(0, 3); err != nil || b[0] || !b[1] || b[2] {
		t.Errorf("discrete inputs = %v, %v", b, err)
	}
	if err := c.WriteRegisters(100, []uint16{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteRegister(200, 9); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteCoils(5, []bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteCoil(9, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Registers(4, modbus.HoldingRegisters, 100, 3); r[0] != 1 || r[2] != 3 {
		t.Errorf("registers after FC16: %v", r)
	}
	if r, _ := s.Registers(4, modbus.HoldingRegisters, 200, 1); r[0] != 9 {
		t.Errorf("register after FC06: %v", r)
	}
	for reg, want := range map[int]bool{5: true, 6: false, 7: true, 9: true} {
		if b, _ := s.Bit(4, modbus.Coils, reg); b != want {
			t.Errorf("coil %d = %v", reg, b)
		}
	}
	if got, err := c.ReadCoils(5, 5); err != nil || !got[0] || got[1] || !got[2] || !got[4] {
		t.Errorf("ReadCoils = %v, %v", got, err)
	}
	// Another unit behind this "gateway" fails as a gateway's target.
	_ = c.SetUnitId(9)
	if _, err := c.ReadRegister(0, smb.HOLDING_REGISTER); !errors.Is(err, smb.ErrGWTargetFailedToRespond) {
		t.Errorf("unit 9: %v", err)
	}
}

func TestFaultsAnswerExceptions(t *testing.T) {
	s := start(t, modbussim.Config{Size: 100})
	s.SetFault(1, modbus.HoldingRegisters, 10, modbussim.Fault{Exception: modbussim.DeviceBusy})
	c := client(t, "tcp://"+s.Addr(), 1)
	if _, err := c.ReadRegisters(5, 10, smb.HOLDING_REGISTER); !errors.Is(err, smb.ErrServerDeviceBusy) {
		t.Errorf("range over a busy register: %v", err)
	}
	if _, err := c.ReadRegisters(11, 10, smb.HOLDING_REGISTER); err != nil {
		t.Errorf("range beside it: %v", err)
	}
	if _, err := c.ReadRegisters(95, 10, smb.HOLDING_REGISTER); !errors.Is(err, smb.ErrIllegalDataAddress) {
		t.Errorf("past the memory: %v", err)
	}
	s.ClearFaults()
	if _, err := c.ReadRegisters(5, 10, smb.HOLDING_REGISTER); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

// rtuGateway serves RTU over TCP: every connection is one serial line.
func rtuGateway(t *testing.T, s *modbussim.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _ = s.ServeRTU(ctx, c) })
		}
	})
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestReferenceClientOverRTU(t *testing.T) {
	s := start(t, modbussim.Config{Units: []uint8{2}})
	_ = s.Set("2!HR1:DINT", plc.IntValue(plc.DInt, -5))
	c := client(t, "rtuovertcp://"+rtuGateway(t, s), 2)
	if v, err := c.ReadUint32(0, smb.HOLDING_REGISTER); err != nil || int32(v) != -5 {
		t.Errorf("ReadUint32 = %v, %v", int32(v), err)
	}
	if err := c.WriteRegisters(3, []uint16{4, 5}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Registers(2, modbus.HoldingRegisters, 3, 2); r[0] != 4 || r[1] != 5 {
		t.Errorf("after FC16 over RTU: %v", r)
	}
}

func TestTransactionsAnsweredInParallelAndOutOfOrder(t *testing.T) {
	s := start(t, modbussim.Config{InFlight: 4})
	s.SetFault(1, modbus.HoldingRegisters, 0, modbussim.Fault{Latency: time.Second})
	s.SetFault(1, modbus.HoldingRegisters, 1, modbussim.Fault{Drop: true})
	_ = s.SetRegisters(1, modbus.HoldingRegisters, 0, 10, 11, 12)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for txid, reg := range []uint16{0, 1, 2} {
		if _, err := c.Write(wire.MBAP(uint16(txid+1), 1, wire.ReadRequest(wire.FCReadHoldingRegisters, reg, 1))); err != nil {
			t.Fatal(err)
		}
	}
	// Register 2 answers first, register 0 after its latency; register 1
	// is never answered.
	var order []uint16
	for range 2 {
		txid, _, pdu, err := wire.ReadMBAP(c)
		if err != nil {
			t.Fatal(err)
		}
		data, err := wire.ParseRead(wire.FCReadHoldingRegisters, 1, pdu)
		if err != nil || int(data[1]) != 10+int(txid)-1 {
			t.Errorf("txid %d: % x, %v", txid, data, err)
		}
		order = append(order, txid)
	}
	// One transaction at a time would answer register 0 first, after its
	// latency: the order proves the server worked on them in parallel.
	// (PeakInFlight is not asserted: on a loaded machine the goroutine of
	// register 2 may finish before that of register 0 has started.)
	if order[0] != 3 || order[1] != 1 {
		t.Errorf("answers in order %v, want [3 1]", order)
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := modbussim.Config{Size: -1, InFlight: -2}.Validate()
	if n := len(config.List(err)); n != 2 {
		t.Errorf("%d problems: %v", n, err)
	}
}
