package modbussim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// Exception codes the simulator answers with.
const (
	IllegalFunction    = 0x01
	IllegalDataAddress = 0x02
	IllegalDataValue   = 0x03
	DeviceBusy         = 0x06
	GatewayTargetFail  = 0x0B
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("modbussim: server closed")

// Config holds the simulator's settings; the zero Config serves every
// unit id, 65536 items per table, one transaction at a time, on
// 127.0.0.1 at a free port.
type Config struct {
	// Addr is the TCP address to listen on (default "127.0.0.1:0").
	Addr string `yaml:"addr"`
	// Units, when not empty, are the unit ids served; a request to
	// another unit is answered with exception 0x0B (gateway target
	// device failed to respond) over TCP and not at all over RTU.
	Units []uint8 `yaml:"units"`
	// Size is how many items each table of each unit has (default
	// 65536); reading past it is an illegal data address.
	Size int `yaml:"size"`
	// InFlight is how many transactions of one connection are worked on
	// at once (default 1): with more, the server reads the next request
	// while earlier ones wait out their latency, and answers each when it
	// is done, possibly out of order.
	InFlight int `yaml:"in_flight"`
}

// Validate reports every bad setting as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.Size < 0 || c.Size > 65536 {
		p.Add("size", "%d not in 1..65536", c.Size)
	}
	if c.InFlight < 0 || c.InFlight > 1024 {
		p.Add("in_flight", "%d not in 1..1024", c.InFlight)
	}
	return p.Err()
}

// Fault is what the server does to a request that covers one address.
type Fault struct {
	// Exception, when not 0, is answered instead of the data.
	Exception byte
	// Latency is added before the answer.
	Latency time.Duration
	// Drop leaves the request unanswered (a lost answer).
	Drop bool
}

// WriteEvent is one client write, after it reached the memory.
type WriteEvent struct {
	Unit     uint8
	Table    modbus.Table
	Register uint16
	Count    int
}

// Option sets a code-only setting of New.
type Option func(*Server)

// WithLogger sets the logger (default none).
func WithLogger(l *zap.Logger) Option { return func(s *Server) { s.log = l } }

// WithOnWrite calls fn after every client write, from the connection's
// goroutine.
func WithOnWrite(fn func(WriteEvent)) Option { return func(s *Server) { s.onWrite = fn } }

// Store is a memory for holding registers that lives outside the
// server (the simulated plant's S7 memory, for one): with WithStore the
// server reads and writes holding registers through it, and keeps the
// other tables itself. An error answers the request with exception 0x02
// (illegal data address).
type Store interface {
	ReadHolding(unit uint8, reg, n int) ([]uint16, error)
	WriteHolding(unit uint8, reg int, vals []uint16) error
}

// WithStore serves holding registers from st.
func WithStore(st Store) Option { return func(s *Server) { s.store = st } }

type faultKey struct {
	unit  uint8
	table modbus.Table
	reg   uint16
}

type unitMem struct {
	regs [2][]uint16 // input, holding
	bits [2][]bool   // coils, discrete inputs
}

// Server is a simulated Modbus device (or gateway with several units).
type Server struct {
	cfg     Config
	log     *zap.Logger
	onWrite func(WriteEvent)
	units   map[uint8]bool
	store   Store

	mu     sync.Mutex // guards mem and faults
	mem    map[uint8]*unitMem
	faults map[faultKey]Fault

	latency   atomic.Int64
	dropAfter atomic.Int64
	refuse    atomic.Bool
	requests  atomic.Uint64
	inFlight  atomic.Int64
	peak      atomic.Int64

	lmu    sync.Mutex // guards ln, conns, closed
	ln     net.Listener
	conns  map[net.Conn]bool
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// New starts a server listening on cfg.Addr.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Size == 0 {
		cfg.Size = 65536
	}
	if cfg.InFlight == 0 {
		cfg.InFlight = 1
	}
	s := &Server{cfg: cfg, log: zap.NewNop(), mem: map[uint8]*unitMem{}, faults: map[faultKey]Fault{}, conns: map[net.Conn]bool{}}
	if len(cfg.Units) > 0 {
		s.units = map[uint8]bool{}
		for _, u := range cfg.Units {
			s.units[u] = true
		}
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the address the server listens on ("127.0.0.1:40123").
func (s *Server) Addr() string { return s.cfg.Addr }

// Start listens again on the same address after Stop.
func (s *Server) Start() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("modbussim: listen: %w", err)
	}
	s.cfg.Addr = ln.Addr().String()
	s.ln, s.stop = ln, make(chan struct{})
	s.wg.Add(1)
	go s.accept(ln, s.stop)
	return nil
}

// Stop closes the listener and every connection; memory is kept, and
// Start serves it again on the same port.
func (s *Server) Stop() {
	s.lmu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
		close(s.stop)
		s.ln = nil
		for c := range s.conns {
			_ = c.Close()
		}
	}
	s.lmu.Unlock()
	s.wg.Wait()
}

// Close stops the server for good; it is idempotent.
func (s *Server) Close() error {
	s.Stop()
	s.lmu.Lock()
	s.closed = true
	s.lmu.Unlock()
	return nil
}

// SetLatency adds d before every answer.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// DropAfter closes each connection after it has carried n more requests
// (0 turns this off), as a device that resets connections does.
func (s *Server) DropAfter(n int) { s.dropAfter.Store(int64(n)) }

// RefuseConnections makes the server close new connections at once.
func (s *Server) RefuseConnections(on bool) { s.refuse.Store(on) }

// SetFault installs f for requests covering register (or coil) reg of a
// unit's table; the zero Fault removes it.
func (s *Server) SetFault(unit uint8, table modbus.Table, reg uint16, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := faultKey{unit, table, reg}
	if f == (Fault{}) {
		delete(s.faults, k)
		return
	}
	s.faults[k] = f
}

// ClearFaults removes every fault set with SetFault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// PeakInFlight returns the most transactions the server has worked on
// at once.
func (s *Server) PeakInFlight() int { return int(s.peak.Load()) }

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return len(s.conns)
}

func (s *Server) unit(u uint8) *unitMem {
	m := s.mem[u]
	if m == nil {
		m = &unitMem{}
		for i := range 2 {
			m.regs[i] = make([]uint16, s.cfg.Size)
			m.bits[i] = make([]bool, s.cfg.Size)
		}
		s.mem[u] = m
	}
	return m
}

func (m *unitMem) registers(t modbus.Table) []uint16 {
	if t == modbus.InputRegisters {
		return m.regs[0]
	}
	return m.regs[1]
}

func (m *unitMem) bitTable(t modbus.Table) []bool {
	if t == modbus.DiscreteInputs {
		return m.bits[1]
	}
	return m.bits[0]
}

// ErrAddress is returned for items outside the memory.
var ErrAddress = errors.New("modbussim: address out of range")

// Registers returns n registers of a unit's input or holding table from
// reg on.
func (s *Server) Registers(unit uint8, t modbus.Table, reg, n int) ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IsBits() || reg < 0 || n < 0 || reg+n > s.cfg.Size {
		return nil, ErrAddress
	}
	if t == modbus.HoldingRegisters && s.store != nil {
		return s.store.ReadHolding(unit, reg, n)
	}
	return append([]uint16(nil), s.unit(unit).registers(t)[reg:reg+n]...), nil
}

// SetRegisters stores vals from register reg on.
func (s *Server) SetRegisters(unit uint8, t modbus.Table, reg int, vals ...uint16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IsBits() || reg < 0 || reg+len(vals) > s.cfg.Size {
		return ErrAddress
	}
	if t == modbus.HoldingRegisters && s.store != nil {
		return s.store.WriteHolding(unit, reg, vals)
	}
	copy(s.unit(unit).registers(t)[reg:], vals)
	return nil
}

// Bit returns a coil or discrete input.
func (s *Server) Bit(unit uint8, t modbus.Table, reg int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.IsBits() || reg < 0 || reg >= s.cfg.Size {
		return false, ErrAddress
	}
	return s.unit(unit).bitTable(t)[reg], nil
}

// SetBit stores a coil or discrete input.
func (s *Server) SetBit(unit uint8, t modbus.Table, reg int, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !t.IsBits() || reg < 0 || reg >= s.cfg.Size {
		return ErrAddress
	}
	s.unit(unit).bitTable(t)[reg] = on
	return nil
}

// Set stores v at an address as modbus.ParseAddress reads it with 1-based
// numbering and unit 1 by default ("3!HR100:REAL:CDAB", "HR7.2", "CO5").
func (s *Server) Set(address string, v plc.Value) error {
	a, err := modbus.ParseAddress(address, plc.DataType{}, modbus.AddressDefaults{Unit: 1})
	if err != nil {
		return err
	}
	return s.Store(a, v)
}

// Get returns the value at an address (see Set).
func (s *Server) Get(address string) (plc.Value, error) {
	a, err := modbus.ParseAddress(address, plc.DataType{}, modbus.AddressDefaults{Unit: 1})
	if err != nil {
		return plc.Value{}, err
	}
	return s.Load(a)
}

// Store stores v at a.
func (s *Server) Store(a modbus.Address, v plc.Value) error {
	if a.Table.IsBits() {
		b, err := plc.Convert(v, plc.TypeBool)
		if err != nil {
			return err
		}
		return s.SetBit(a.Unit, a.Table, int(a.Register), b.Bool())
	}
	if a.Bit >= 0 {
		b, err := plc.Convert(v, plc.TypeBool)
		if err != nil {
			return err
		}
		r, err := s.Registers(a.Unit, a.Table, int(a.Register), 1)
		if err != nil {
			return err
		}
		return s.SetRegisters(a.Unit, a.Table, int(a.Register), a.SetBit(r[0], b.Bool()))
	}
	raw, err := a.Encode(v)
	if err != nil {
		return err
	}
	vals := make([]uint16, len(raw)/2)
	for i := range vals {
		vals[i] = binary.BigEndian.Uint16(raw[2*i:])
	}
	return s.SetRegisters(a.Unit, a.Table, int(a.Register), vals...)
}

// Load returns the value at a.
func (s *Server) Load(a modbus.Address) (plc.Value, error) {
	if a.Table.IsBits() {
		b, err := s.Bit(a.Unit, a.Table, int(a.Register))
		return plc.BoolValue(b), err
	}
	regs, err := s.Registers(a.Unit, a.Table, int(a.Register), a.Registers())
	if err != nil {
		return plc.Value{}, err
	}
	raw := make([]byte, 2*len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(raw[2*i:], r)
	}
	return a.Decode(raw)
}

func (s *Server) accept(ln net.Listener, stop chan struct{}) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if s.refuse.Load() {
			_ = c.Close()
			continue
		}
		s.lmu.Lock()
		select {
		case <-stop:
			s.lmu.Unlock()
			_ = c.Close()
			return
		default:
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.lmu.Unlock()
		go s.serveTCP(c, stop)
	}
}

// serveTCP reads requests and works on up to InFlight of them at once.
func (s *Server) serveTCP(c net.Conn, stop chan struct{}) {
	defer s.wg.Done()
	var wg sync.WaitGroup
	defer func() {
		_ = c.Close()
		wg.Wait()
		s.lmu.Lock()
		delete(s.conns, c)
		s.lmu.Unlock()
	}()
	sem := make(chan struct{}, s.cfg.InFlight)
	var wmu sync.Mutex
	served := int64(0)
	for {
		txid, unit, pdu, err := wire.ReadMBAP(c)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("modbussim connection ended", zap.Error(err))
			}
			return
		}
		served++
		if n := s.dropAfter.Load(); n > 0 && served > n {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-stop:
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, ok := s.handle(unit, pdu, stop, true)
			if !ok {
				return
			}
			wmu.Lock()
			_, _ = c.Write(wire.MBAP(txid, unit, resp))
			wmu.Unlock()
		}()
	}
}

// ServeRTU answers Modbus RTU requests arriving on rw (one end of a
// pseudo-terminal pair, a serial port, or an RTU-over-TCP connection),
// one at a time, until ctx ends or rw fails. Requests for units the
// server does not serve go unanswered, as on a serial bus. It closes rw
// when ctx ends, to interrupt the read under way.
func (s *Server) ServeRTU(ctx context.Context, rw io.ReadWriteCloser) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = rw.Close()
		case <-stop:
		}
	}()
	for {
		unit, pdu, err := wire.ReadRTU(rw, true)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, wire.ErrFrame) {
				s.log.Debug("modbussim RTU frame refused", zap.Error(err))
				continue
			}
			return err
		}
		if s.units != nil && !s.units[unit] {
			continue
		}
		resp, ok := s.handle(unit, pdu, stop, false)
		if !ok {
			continue
		}
		if _, err := rw.Write(wire.RTU(unit, resp)); err != nil {
			return err
		}
	}
}

// handle answers one request PDU; ok is false when the answer is
// dropped.
func (s *Server) handle(unit uint8, pdu []byte, stop chan struct{}, tcp bool) (resp []byte, ok bool) {
	s.requests.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	fc := pdu[0]
	exc := func(code byte) ([]byte, bool) { return []byte{fc | 0x80, code}, true }
	if tcp && s.units != nil && !s.units[unit] {
		return exc(GatewayTargetFail)
	}
	if len(pdu) < 5 {
		return exc(IllegalDataValue)
	}
	table, write := tableOf(fc)
	if table == 0xFF {
		return exc(IllegalFunction)
	}
	addr := int(binary.BigEndian.Uint16(pdu[1:]))
	qty := int(binary.BigEndian.Uint16(pdu[3:]))
	if fc == wire.FCWriteSingleCoil || fc == wire.FCWriteSingleRegister {
		qty = 1
	}
	f := s.fault(unit, table, addr, qty)
	delay := time.Duration(s.latency.Load()) + f.Latency
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return nil, false
		}
	}
	if f.Drop {
		return nil, false
	}
	if f.Exception != 0 {
		return exc(f.Exception)
	}
	if addr+qty > s.cfg.Size {
		return exc(IllegalDataAddress)
	}
	s.mu.Lock()
	m := s.unit(unit)
	switch fc {
	case wire.FCReadCoils, wire.FCReadDiscreteInputs:
		if qty < 1 || qty > wire.MaxReadBits {
			s.mu.Unlock()
			return exc(IllegalDataValue)
		}
		bits := m.bitTable(table)
		out := make([]byte, 2+(qty+7)/8)
		out[0], out[1] = fc, byte((qty+7)/8)
		for i := range qty {
			if bits[addr+i] {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		s.mu.Unlock()
		return out, true
	case wire.FCReadHoldingRegisters, wire.FCReadInputRegisters:
		if qty < 1 || qty > wire.MaxReadRegisters {
			s.mu.Unlock()
			return exc(IllegalDataValue)
		}
		regs := m.registers(table)[addr:]
		if table == modbus.HoldingRegisters && s.store != nil {
			s.mu.Unlock()
			var err error
			if regs, err = s.store.ReadHolding(unit, addr, qty); err != nil {
				return exc(IllegalDataAddress)
			}
			s.mu.Lock()
		}
		out := make([]byte, 2+2*qty)
		out[0], out[1] = fc, byte(2*qty)
		for i := range qty {
			binary.BigEndian.PutUint16(out[2+2*i:], regs[i])
		}
		s.mu.Unlock()
		return out, true
	case wire.FCWriteSingleCoil:
		v := binary.BigEndian.Uint16(pdu[3:])
		if v != 0 && v != 0xFF00 {
			s.mu.Unlock()
			return exc(IllegalDataValue)
		}
		m.bitTable(table)[addr] = v == 0xFF00
	case wire.FCWriteSingleRegister:
		if err := s.writeRegs(m, unit, addr, []uint16{binary.BigEndian.Uint16(pdu[3:])}); err != nil {
			s.mu.Unlock()
			return exc(IllegalDataAddress)
		}
	case wire.FCWriteMultipleCoils:
		if len(pdu) < 6 || qty < 1 || qty > wire.MaxWriteBits || int(pdu[5]) != (qty+7)/8 || len(pdu) != 6+(qty+7)/8 {
			s.mu.Unlock()
			return exc(IllegalDataValue)
		}
		bits := m.bitTable(table)
		for i := range qty {
			bits[addr+i] = pdu[6+i/8]>>(i%8)&1 == 1
		}
	case wire.FCWriteMultipleRegisters:
		if len(pdu) < 6 || qty < 1 || qty > wire.MaxWriteRegisters || int(pdu[5]) != 2*qty || len(pdu) != 6+2*qty {
			s.mu.Unlock()
			return exc(IllegalDataValue)
		}
		vals := make([]uint16, qty)
		for i := range vals {
			vals[i] = binary.BigEndian.Uint16(pdu[6+2*i:])
		}
		if err := s.writeRegs(m, unit, addr, vals); err != nil {
			s.mu.Unlock()
			return exc(IllegalDataAddress)
		}
	}
	s.mu.Unlock()
	if write && s.onWrite != nil {
		s.onWrite(WriteEvent{Unit: unit, Table: table, Register: uint16(addr), Count: qty})
	}
	return append([]byte(nil), pdu[:5]...), true
}

// writeRegs stores holding registers, in the Store when there is one
// (called with s.mu held, which the Store does not need).
func (s *Server) writeRegs(m *unitMem, unit uint8, addr int, vals []uint16) error {
	if s.store != nil {
		return s.store.WriteHolding(unit, addr, vals)
	}
	copy(m.registers(modbus.HoldingRegisters)[addr:], vals)
	return nil
}

// fault returns the fault of the first faulty item in [addr, addr+qty),
// the longest latency of them, or the zero Fault.
func (s *Server) fault(unit uint8, t modbus.Table, addr, qty int) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}
	}
	var out Fault
	for k, f := range s.faults {
		if k.unit != unit || k.table != t || int(k.reg) < addr || int(k.reg) >= addr+qty {
			continue
		}
		if out.Exception == 0 {
			out.Exception = f.Exception
		}
		out.Latency = max(out.Latency, f.Latency)
		out.Drop = out.Drop || f.Drop
	}
	return out
}

// tableOf returns the table a function code works on, 0xFF for an
// unsupported function.
func tableOf(fc byte) (modbus.Table, bool) {
	switch fc {
	case wire.FCReadCoils:
		return modbus.Coils, false
	case wire.FCReadDiscreteInputs:
		return modbus.DiscreteInputs, false
	case wire.FCReadInputRegisters:
		return modbus.InputRegisters, false
	case wire.FCReadHoldingRegisters:
		return modbus.HoldingRegisters, false
	case wire.FCWriteSingleCoil, wire.FCWriteMultipleCoils:
		return modbus.Coils, true
	case wire.FCWriteSingleRegister, wire.FCWriteMultipleRegisters:
		return modbus.HoldingRegisters, true
	}
	return 0xFF, false
}
