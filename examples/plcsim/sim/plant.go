package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-iot/kiln/config"

	"github.com/gopcua/opcua/ua"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// DefaultUpdate is how often the signal generators move when Config.Update
// is zero.
const DefaultUpdate = 100 * time.Millisecond

// ErrUnknownTag is returned for a tag the plant does not have.
var ErrUnknownTag = errors.New("sim: unknown tag")

// Config sets up a plant. The zero Config serves S7 and OPC UA on free ports
// of 127.0.0.1 and moves the signals every 100ms.
type Config struct {
	// S7 configures the S7 server (default address 127.0.0.1:0). Data
	// blocks and areas are made large enough for the tag list.
	S7 s7sim.Config `yaml:"s7"`
	// OPCUA configures the OPC UA server (default address 127.0.0.1:0,
	// security mode None only).
	OPCUA uasim.Config `yaml:"opcua"`
	// NoOPCUA serves S7 only, for large tag lists where an OPC UA address
	// space would only cost memory.
	NoOPCUA bool `yaml:"no_opcua"`
	// Modbus configures the Modbus TCP server (default address
	// 127.0.0.1:0), which serves the S7 data blocks as holding registers
	// (see ModbusAddress); NoModbus turns it off.
	Modbus   modbussim.Config `yaml:"modbus"`
	NoModbus bool             `yaml:"no_modbus"`
	// Update is the period of the signal generators (default 100ms).
	Update time.Duration `yaml:"update"`
	// Seed seeds the noise and random walks, so runs repeat.
	Seed uint64 `yaml:"seed"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (s7.rack, opcua.addr).
func (c Config) Validate() error {
	var p config.Problems
	if c.Update < 0 {
		p.Add("update", "%v is negative", c.Update)
	}
	p.Nest("s7", c.S7.Validate())
	p.Nest("opcua", c.OPCUA.Validate())
	p.Nest("modbus", c.Modbus.Validate())
	return p.Err()
}

// Option sets a code-only setting of New.
type Option func(*Plant)

// WithLogger logs the servers and mirrored writes through l.
func WithLogger(l *zap.Logger) Option { return func(p *Plant) { p.log = l } }

// WithClock sets the clock the generators run on (default the system
// clock).
func WithClock(c clock.Clock) Option { return func(p *Plant) { p.clk = c } }

// Plant is a simulated plant: one tag list in one memory, served over S7
// and OPC UA at once. A client's write over either protocol is stored in
// the S7 memory and mirrored into the OPC UA server, so it reads back the
// same over both.
type Plant struct {
	cfg  Config
	list *TagList
	log  *zap.Logger
	clk  clock.Clock

	s7 *s7sim.Server
	ua *uasim.Server
	mb *modbussim.Server

	tags   []plc.Tag // raw type, scaling; Address is the S7 address
	byName map[string]int
	byArea map[areaKey][]int

	mu    sync.Mutex
	state []float64 // the generators' last engineering values
	rnd   *rand.Rand
	start time.Time

	serving   atomic.Bool
	closeOnce sync.Once
	cancel    context.CancelFunc
	writes    atomic.Uint64
}

type areaKey struct {
	area s7.Area
	db   int
}

// New starts the plant's servers for a tag list; they listen until Close.
// The signals move while Serve runs (or with Step).
func New(cfg Config, list *TagList, opts ...Option) (*Plant, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Update == 0 {
		cfg.Update = DefaultUpdate
	}
	if list == nil {
		return nil, errors.New("sim: no tag list")
	}
	p := &Plant{cfg: cfg, list: list, log: zap.NewNop(), byName: map[string]int{}, byArea: map[areaKey][]int{}}
	for _, o := range opts {
		o(p)
	}
	p.clk = clock.Or(p.clk)
	p.rnd = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6b696c6e))
	p.start = p.clk.Now()

	s7cfg := cfg.S7
	if s7cfg.Addr == "" {
		s7cfg.Addr = "127.0.0.1:0"
	}
	dbs := map[int]int{}
	for k, v := range s7cfg.DBs {
		dbs[k] = v
	}
	need := map[s7.Area]int{}
	p.tags = make([]plc.Tag, len(list.Tags))
	p.state = make([]float64, len(list.Tags))
	for i := range list.Tags {
		t := &list.Tags[i]
		pt := t.plcTag()
		pt.Address = t.Address
		p.tags[i] = pt
		p.byName[t.Name] = i
		k := areaKey{t.addr.Area, t.addr.DB}
		p.byArea[k] = append(p.byArea[k], i)
		end := t.addr.Offset + t.addr.Size()
		if t.addr.Area == s7.AreaDB {
			dbs[t.addr.DB] = max(dbs[t.addr.DB], (end+15)/16*16)
		} else {
			need[t.addr.Area] = max(need[t.addr.Area], end)
		}
		if t.Signal != nil {
			p.state[i] = t.Signal.Offset
		}
	}
	if len(dbs) > 0 {
		s7cfg.DBs = dbs
	}
	s7cfg.MSize = max(s7cfg.MSize, need[s7.AreaM])
	s7cfg.ISize = max(s7cfg.ISize, need[s7.AreaI])
	s7cfg.QSize = max(s7cfg.QSize, need[s7.AreaQ])
	srv, err := s7sim.New(s7cfg, s7sim.WithLogger(p.log.Named("s7")), s7sim.WithOnWrite(p.onS7Write))
	if err != nil {
		return nil, fmt.Errorf("sim: s7 server: %w", err)
	}
	p.s7 = srv
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if !cfg.NoOPCUA {
		uacfg := cfg.OPCUA
		if len(uacfg.Security) == 0 {
			uacfg.Security = []string{"None"}
		}
		ua, err := uasim.New(uacfg, p.tags, uasim.WithLogger(p.log.Named("opcua")), uasim.WithOnWrite(p.onUAWrite))
		if err == nil {
			err = ua.Start(ctx)
		}
		if err != nil {
			cancel()
			_ = srv.Close()
			return nil, fmt.Errorf("sim: opcua server: %w", err)
		}
		p.ua = ua
	}
	if !cfg.NoModbus {
		mb, err := modbussim.New(cfg.Modbus, modbussim.WithLogger(p.log.Named("modbus")), modbussim.WithStore(modbusStore{p}))
		if err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("sim: modbus server: %w", err)
		}
		p.mb = mb
	}
	for i := range list.Tags {
		t := &list.Tags[i]
		switch {
		case t.initial.IsValid():
			err = p.store(i, t.initial)
		case t.Signal != nil:
			err = p.drive(i, 0)
		}
		if err != nil {
			_ = p.Close()
			return nil, err
		}
	}
	return p, nil
}

// ModbusAddr returns the Modbus TCP server's host:port, "" when the plant
// serves no Modbus.
func (p *Plant) ModbusAddr() string {
	if p.mb == nil {
		return ""
	}
	return p.mb.Addr()
}

// Modbus returns the Modbus server (nil with NoModbus), for fault
// injection.
func (p *Plant) Modbus() *modbussim.Server { return p.mb }

// S7Addr returns the S7 server's host:port.
func (p *Plant) S7Addr() string { return p.s7.Addr() }

// OPCUAEndpoint returns the OPC UA server's URL; empty with NoOPCUA.
func (p *Plant) OPCUAEndpoint() string {
	if p.ua == nil {
		return ""
	}
	return p.ua.Endpoint()
}

// S7 returns the S7 server, for fault injection (Stop, Start, latency).
func (p *Plant) S7() *s7sim.Server { return p.s7 }

// OPCUA returns the OPC UA server (nil with NoOPCUA).
func (p *Plant) OPCUA() *uasim.Server { return p.ua }

// TagList returns the plant's tag list.
func (p *Plant) TagList() *TagList { return p.list }

// Writes returns how many client writes the plant has taken over either
// protocol.
func (p *Plant) Writes() uint64 { return p.writes.Load() }

// Get returns a tag's raw value from the plant's memory.
func (p *Plant) Get(tag string) (plc.Value, error) {
	i, ok := p.byName[tag]
	if !ok {
		return plc.Value{}, fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	return p.s7.Load(p.list.Tags[i].addr)
}

// Set stores a raw value into a tag from Go, over both protocols. A tag
// with a signal is moved again by its generator at the next update; a
// random walk or a counter goes on from the value set.
func (p *Plant) Set(tag string, v plc.Value) error {
	i, ok := p.byName[tag]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	if err := p.store(i, v); err != nil {
		return err
	}
	p.adopt(i, v)
	return nil
}

// Serve moves the signals every Config.Update until ctx is done, then
// returns ctx.Err(). The servers keep listening until Close.
func (p *Plant) Serve(ctx context.Context) error {
	if !p.serving.CompareAndSwap(false, true) {
		return errors.New("sim: plant already serving")
	}
	defer p.serving.Store(false)
	tk := p.clk.NewTicker(p.cfg.Update)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C():
			if err := p.Step(); err != nil {
				p.log.Warn("signal update failed", zap.Error(err))
			}
		}
	}
}

// Step moves every signal once, to the clock's time now.
func (p *Plant) Step() error {
	elapsed := p.clk.Now().Sub(p.start)
	var errs []error
	for i := range p.list.Tags {
		if p.list.Tags[i].Signal != nil {
			if err := p.drive(i, elapsed); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// drive computes tag i's signal at elapsed and stores it.
func (p *Plant) drive(i int, elapsed time.Duration) error {
	t := &p.list.Tags[i]
	p.mu.Lock()
	eng := t.Signal.Next(elapsed, p.state[i], p.rnd)
	p.state[i] = eng
	p.mu.Unlock()
	v, err := rawValue(&p.tags[i], eng)
	if err != nil {
		return fmt.Errorf("sim: tag %q: %w", t.Name, err)
	}
	return p.store(i, v)
}

// store writes a raw value to S7 memory and the OPC UA server.
func (p *Plant) store(i int, v plc.Value) error {
	t := &p.list.Tags[i]
	if err := p.s7.Store(t.addr, v); err != nil {
		return fmt.Errorf("sim: tag %q: %w", t.Name, err)
	}
	if p.ua != nil {
		if err := p.ua.Set(t.Name, v); err != nil {
			return fmt.Errorf("sim: tag %q: %w", t.Name, err)
		}
	}
	return nil
}

// adopt makes a walk or counter go on from a written raw value.
func (p *Plant) adopt(i int, raw plc.Value) {
	if p.list.Tags[i].Signal == nil {
		return
	}
	eng := p.tags[i].ToEngineering(raw).Float()
	p.mu.Lock()
	p.state[i] = eng
	p.mu.Unlock()
}

// onS7Write mirrors an S7 client's write into the OPC UA server.
func (p *Plant) onS7Write(ev s7sim.WriteEvent) {
	for _, i := range p.byArea[areaKey{ev.Area, ev.DB}] {
		a := p.list.Tags[i].addr
		if a.Offset >= ev.Offset+ev.Length || a.Offset+a.Size() <= ev.Offset {
			continue
		}
		if a.Type.Kind == plc.Bool && ev.Bit >= 0 && ev.Bit != a.Bit {
			continue
		}
		v, err := p.s7.Load(a)
		if err != nil {
			continue
		}
		p.writes.Add(1)
		p.adopt(i, v)
		if p.ua != nil {
			if err := p.ua.Set(p.tags[i].Name, v); err != nil {
				p.log.Warn("mirroring an S7 write to OPC UA failed", zap.String("tag", p.tags[i].Name), zap.Error(err))
			}
		}
	}
}

// onUAWrite stores an OPC UA client's write in the S7 memory; the OPC UA
// server stores it itself once this returns nil.
func (p *Plant) onUAWrite(tag string, v plc.Value) error {
	i, ok := p.byName[tag]
	if !ok {
		return ua.StatusBadNodeIDUnknown
	}
	if err := p.s7.Store(p.list.Tags[i].addr, v); err != nil {
		p.log.Warn("mirroring an OPC UA write to S7 failed", zap.String("tag", tag), zap.Error(err))
		return ua.StatusBadOutOfRange
	}
	p.writes.Add(1)
	p.adopt(i, v)
	return nil
}

// Close stops both servers. It is idempotent.
func (p *Plant) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.cancel()
		var errs []error
		if p.ua != nil {
			errs = append(errs, p.ua.Close())
		}
		if p.mb != nil {
			errs = append(errs, p.mb.Close())
		}
		errs = append(errs, p.s7.Close())
		err = errors.Join(errs...)
	})
	return err
}
