package s7sim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// Errors of the Go-side memory access.
var (
	// ErrNoDB is returned for a data block the server does not have.
	ErrNoDB = errors.New("s7sim: no such data block")
	// ErrOutOfRange is returned for bytes beyond an area's size.
	ErrOutOfRange = errors.New("s7sim: address out of range")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("s7sim: server closed")
)

// Config sets up a simulated PLC. The zero Config means the documented
// defaults.
type Config struct {
	// Addr is where to listen (default "127.0.0.1:0": loopback, a free
	// port).
	Addr string `yaml:"addr"`
	// MaxPDU is the largest PDU size the server agrees to (default 480).
	MaxPDU int `yaml:"max_pdu"`
	// MaxItems is the most items one Read or Write Var may hold (default
	// 20, as S7-300/400 CPUs).
	MaxItems int `yaml:"max_items"`
	// DBs maps data block numbers to their sizes in bytes (default: DB1
	// to DB10 of 4096 bytes each).
	DBs map[int]int `yaml:"dbs"`
	// MSize, ISize and QSize are the sizes of the flag, input and output
	// areas (default 1024 bytes each).
	MSize int `yaml:"m_size"`
	ISize int `yaml:"i_size"`
	QSize int `yaml:"q_size"`
	// Rack and Slot are the CPU's position, checked against the remote
	// TSAP of each connection request (defaults 0 and 1; slots 0 and 1
	// are interchangeable, as on S7-1200/1500).
	Rack int `yaml:"rack"`
	Slot int `yaml:"slot"`
	// LocalTSAP, when not zero, is the only client (local) TSAP accepted,
	// as for a connection configured in the CPU; 0 accepts any.
	LocalTSAP uint16 `yaml:"local_tsap"`
	// MaxJobs is the most jobs a client may keep outstanding at once,
	// granted in the setup communication (max AmQ; default 1; S7-1500
	// CPUs grant 3). A client that sends more loses its connection.
	MaxJobs int `yaml:"max_jobs"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML name.
func (c Config) Validate() error {
	var p config.Problems
	if c.MaxPDU != 0 && (c.MaxPDU < 64 || c.MaxPDU > 0xFFFF) {
		p.Add("max_pdu", "%d not in 64..65535", c.MaxPDU)
	}
	if c.MaxItems < 0 || c.MaxItems > 255 {
		p.Add("max_items", "%d not in 1..255", c.MaxItems)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"m_size", c.MSize}, {"i_size", c.ISize}, {"q_size", c.QSize}} {
		if f.v < 0 {
			p.Add(f.name, "negative size %d", f.v)
		}
	}
	if c.Rack < 0 || c.Rack > 7 {
		p.Add("rack", "%d not in 0..7", c.Rack)
	}
	if c.Slot < 0 || c.Slot > 31 {
		p.Add("slot", "%d not in 0..31", c.Slot)
	}
	if c.MaxJobs < 0 || c.MaxJobs > 0xFFFF {
		p.Add("max_jobs", "%d not in 1..65535", c.MaxJobs)
	}
	dbs := make([]int, 0, len(c.DBs))
	for n := range c.DBs {
		dbs = append(dbs, n)
	}
	sort.Ints(dbs)
	for _, n := range dbs {
		path := fmt.Sprintf("dbs.%d", n)
		if n < 1 || n > 0xFFFF {
			p.Add(path, "data block number %d not in 1..65535", n)
		}
		if size := c.DBs[n]; size < 0 || size > wire.MaxAddress+1 {
			p.Add(path, "DB%d size %d not in 0..%d", n, size, wire.MaxAddress+1)
		}
	}
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.MaxPDU == 0 {
		c.MaxPDU = 480
	}
	if c.MaxItems == 0 {
		c.MaxItems = 20
	}
	if c.DBs == nil {
		c.DBs = map[int]int{}
		for i := 1; i <= 10; i++ {
			c.DBs[i] = 4096
		}
	}
	if c.MSize == 0 {
		c.MSize = 1024
	}
	if c.ISize == 0 {
		c.ISize = 1024
	}
	if c.QSize == 0 {
		c.QSize = 1024
	}
	if c.Slot == 0 {
		c.Slot = 1
	}
	if c.MaxJobs == 0 {
		c.MaxJobs = 1
	}
	return c
}

// WriteEvent tells of a client's write to the server's memory.
type WriteEvent struct {
	Area s7.Area
	// DB is the data block number, 0 outside DBs.
	DB     int
	Offset int
	Length int
	// Bit is the bit a bit write set, -1 for byte writes.
	Bit int
	// Data is the memory written, after the write (for a bit write, the
	// whole byte).
	Data []byte
	// Client is the writing connection's remote address and ClientTSAP
	// the TSAP it connected from, so a test can tell who wrote.
	Client     string
	ClientTSAP uint16
	// Seq orders the writes of all connections as the memory saw them
	// (from 1); callbacks of different connections may run out of order.
	Seq uint64
}

// Option sets a code-only setting of New.
type Option func(*Server)

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(s *Server) { s.log = l } }

// WithOnWrite calls fn after each item a client writes, outside the
// server's locks, so a plant simulation can mirror writes elsewhere.
func WithOnWrite(fn func(WriteEvent)) Option { return func(s *Server) { s.onWrite = fn } }

type memKey struct {
	area s7.Area
	db   int
}

// Server is a simulated S7 PLC on a TCP socket.
type Server struct {
	cfg     Config
	log     *zap.Logger
	onWrite func(WriteEvent)

	mu       sync.RWMutex // guards mem, itemErrs and writeSeq
	writeSeq uint64
	mem      map[memKey][]byte
	itemErrs map[memKey]map[int]byte // byte offset → return code

	lmu    sync.Mutex // guards the fields below
	ln     net.Listener
	addr   string
	conns  map[net.Conn]struct{}
	stop   chan struct{}
	closed bool
	wg     sync.WaitGroup

	latency    atomic.Int64
	dropAfter  atomic.Int64
	lose       atomic.Int64
	reorder    atomic.Bool
	mostJobs   atomic.Int64 // the most jobs one connection had in flight
	refuse     atomic.Bool
	jobErr     atomic.Uint32 // class<<8 | code of refused jobs, 0 for none
	requests   atomic.Uint64
	violations atomic.Uint64
}

// New starts a simulated PLC listening on cfg.Addr.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newServer(cfg.withDefaults(), opts...)
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// newServer sets up memory and options, without listening.
func newServer(cfg Config, opts ...Option) *Server {
	s := &Server{cfg: cfg, log: zap.NewNop(), mem: map[memKey][]byte{}, itemErrs: map[memKey]map[int]byte{}, addr: cfg.Addr}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	for n, size := range cfg.DBs {
		s.mem[memKey{s7.AreaDB, n}] = make([]byte, size)
	}
	s.mem[memKey{s7.AreaM, 0}] = make([]byte, cfg.MSize)
	s.mem[memKey{s7.AreaI, 0}] = make([]byte, cfg.ISize)
	s.mem[memKey{s7.AreaQ, 0}] = make([]byte, cfg.QSize)
	return s
}

// Addr returns the address the server listens on (host:port); it stays
// the same across Stop and Start.
func (s *Server) Addr() string {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.addr
}

// Start listens again after Stop, on the same port. Starting a running
// server does nothing.
func (s *Server) Start() error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("s7sim: listen: %w", err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.conns = map[net.Conn]struct{}{}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go s.accept(ln, s.stop)
	return nil
}

// Stop closes the listener and every connection, as a PLC that is
// switched off, and waits for them; memory is kept for Start.
func (s *Server) Stop() error {
	s.lmu.Lock()
	if s.ln == nil {
		s.lmu.Unlock()
		return nil
	}
	_ = s.ln.Close()
	s.ln = nil
	close(s.stop)
	for c := range s.conns {
		_ = c.Close()
	}
	s.lmu.Unlock()
	s.wg.Wait()
	return nil
}

// Close stops the server for good. It is idempotent.
func (s *Server) Close() error {
	err := s.Stop()
	s.lmu.Lock()
	s.closed = true
	s.lmu.Unlock()
	return err
}

// SetLatency delays every answer by d (0 for none). The jobs a client
// keeps in flight (up to Config.MaxJobs) wait out their latency at once,
// as a CPU answers each job after some milliseconds of its cycle.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetReorder makes the server answer the jobs a client has in flight
// together in reverse order (true), or in the order they came (false).
func (s *Server) SetReorder(on bool) { s.reorder.Store(on) }

// LoseAnswers makes the server do the next n Read or Write Var jobs
// without ever answering them, keeping the connection; n <= 0 cancels.
func (s *Server) LoseAnswers(n int) { s.lose.Store(int64(n)) }

// DropAfter makes the server drop the connection that carries the n-th
// Read or Write Var from now, without answering it; n <= 0 cancels.
func (s *Server) DropAfter(n int) { s.dropAfter.Store(int64(n)) }

// RefuseConnections makes the server close new connections at once (true)
// or accept them again (false).
func (s *Server) RefuseConnections(on bool) { s.refuse.Store(on) }

// SetJobError makes the server refuse every Read and Write Var job with
// the error class and code in the answer's header, as a CPU whose PUT/GET
// access is disabled does (class 0x81, code 0x04); class 0 accepts jobs
// again.
func (s *Server) SetJobError(class, code byte) {
	if class == 0 {
		s.jobErr.Store(0)
		return
	}
	s.jobErr.Store(uint32(class)<<8 | uint32(code))
}

// SetItemError makes every read or write item touching byte offset of
// the area (and DB) fail with return code code, until ClearItemErrors.
func (s *Server) SetItemError(area s7.Area, db, offset int, code s7.ReturnCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey{area, dbOf(area, db)}
	if s.itemErrs[k] == nil {
		s.itemErrs[k] = map[int]byte{}
	}
	s.itemErrs[k][offset] = byte(code)
}

// ClearItemErrors removes every injected item error.
func (s *Server) ClearItemErrors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.itemErrs)
}

// Requests returns how many Read and Write Var jobs the server has
// received.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// MostJobsInFlight returns the most jobs one connection has had
// outstanding at once since New.
func (s *Server) MostJobsInFlight() int { return int(s.mostJobs.Load()) }

// Violations returns how many requests broke the negotiated limits: a
// request or its answer larger than the negotiated PDU, or more items
// than MaxItems, more jobs in flight than MaxJobs. A client that plans
// well keeps it at zero.
func (s *Server) Violations() uint64 { return s.violations.Load() }

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return len(s.conns)
}

func dbOf(area s7.Area, db int) int {
	if area != s7.AreaDB {
		return 0
	}
	return db
}

// span returns the memory of an area/DB and checks [offset, offset+n).
// The caller holds s.mu.
func (s *Server) span(area s7.Area, db, offset, n int) ([]byte, error) {
	m, ok := s.mem[memKey{area, dbOf(area, db)}]
	if !ok {
		if area == s7.AreaDB {
			return nil, fmt.Errorf("%w: DB%d", ErrNoDB, db)
		}
		return nil, fmt.Errorf("s7sim: no area %v", area)
	}
	if offset < 0 || n < 0 || offset+n > len(m) {
		return nil, fmt.Errorf("%w: %v bytes %d..%d of %d", ErrOutOfRange, area, offset, offset+n, len(m))
	}
	return m[offset : offset+n], nil
}

// ReadBytes returns a copy of n bytes at offset of an area (db is the
// data block number in AreaDB, ignored elsewhere).
func (s *Server) ReadBytes(area s7.Area, db, offset, n int) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.span(area, db, offset, n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), m...), nil
}

// WriteBytes stores b at offset of an area. It does not call the OnWrite
// hook, which is for clients' writes.
func (s *Server) WriteBytes(area s7.Area, db, offset int, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.span(area, db, offset, len(b))
	if err != nil {
		return err
	}
	copy(m, b)
	return nil
}

// Load returns the value at a parsed address.
func (s *Server) Load(a s7.Address) (plc.Value, error) {
	b, err := s.ReadBytes(a.Area, a.DB, a.Offset, a.Size())
	if err != nil {
		return plc.Value{}, err
	}
	return a.Decode(b)
}

// Store sets the value at a parsed address (converted to its type; a BOOL
// sets only its bit).
func (s *Server) Store(a s7.Address, v plc.Value) error {
	b, err := a.Encode(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.span(a.Area, a.DB, a.Offset, len(b))
	if err != nil {
		return err
	}
	if a.Type.Kind == plc.Bool {
		m[0] = m[0]&^(1<<a.Bit) | b[0]<<a.Bit
		return nil
	}
	copy(m, b)
	return nil
}

// Get returns the value at an address written as for s7.ParseAddress,
// with its type inline or the width's default ("DB1.DBD4:REAL", "M0.1").
func (s *Server) Get(address string) (plc.Value, error) {
	a, err := s7.ParseAddress(address, plc.DataType{})
	if err != nil {
		return plc.Value{}, err
	}
	return s.Load(a)
}

// Set stores v at an address written as for Get.
func (s *Server) Set(address string, v plc.Value) error {
	a, err := s7.ParseAddress(address, plc.DataType{})
	if err != nil {
		return err
	}
	return s.Store(a, v)
}

// DBs returns the numbers of the server's data blocks, sorted.
func (s *Server) DBs() []int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []int
	for k := range s.mem {
		if k.area == s7.AreaDB {
			out = append(out, k.db)
		}
	}
	sort.Ints(out)
	return out
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
		if s.ln != ln {
			s.lmu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.lmu.Unlock()
		go s.serve(c, stop)
	}
}

// maxFrame bounds the telegrams the server reads.
const maxFrame = 1 << 16

func (s *Server) serve(c net.Conn, stop chan struct{}) {
	defer s.wg.Done()
	defer func() {
		_ = c.Close()
		s.lmu.Lock()
		delete(s.conns, c)
		s.lmu.Unlock()
	}()
	r := bufio.NewReader(c)
	st := &connState{remote: c.RemoteAddr().String()}
	buf := make([]byte, maxFrame)
	out := newOutbox()
	go s.writeLoop(c, out, stop)
	defer out.finish()
	for {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(buf[2:]))
		if buf[0] != 3 || n < wire.IsoHeaderLen {
			s.log.Debug("s7sim: not a TPKT frame, closing", zap.Binary("head", buf[:4]))
			return
		}
		if _, err := io.ReadFull(r, buf[4:n]); err != nil {
			return
		}
		if st.pdu > 0 && isVarJob(buf[:n]) && out.busy() >= st.jobs {
			// More jobs than granted in the setup communication: a CPU
			// ends such a connection without doing the job.
			s.violations.Add(1)
			s.log.Debug("s7sim: more jobs in flight than granted, closing", zap.Int("granted", st.jobs))
			return
		}
		st.job = false
		resp, closeConn := s.process(st, buf[:n])
		if st.job && s.lose.Load() > 0 && s.lose.Add(-1) >= 0 {
			resp = nil // done, never answered
		}
		if resp != nil {
			out.add(answer{frame: slices.Clone(resp), due: time.Now().Add(time.Duration(s.latency.Load())), job: st.job})
			if n := int64(out.busy()); st.job && n > s.mostJobs.Load() {
				s.mostJobs.Store(n) // only an indication; races with other connections are harmless
			}
		}
		if closeConn {
			return
		}
	}
}
