package ha_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/internal/linkfault"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 2 * time.Second

// pausable is a fake clock whose tickers can be held, as SIGSTOP holds a
// process: time goes on (Now keeps moving) but no tick is delivered.
type pausable struct {
	*clock.Fake
	paused atomic.Bool
	mu     sync.Mutex
	stops  []chan struct{}
}

func (p *pausable) NewTicker(d time.Duration) clock.Ticker {
	inner := p.Fake.NewTicker(d)
	out := make(chan time.Time, 1)
	stop := make(chan struct{})
	p.mu.Lock()
	p.stops = append(p.stops, stop)
	p.mu.Unlock()
	go func() {
		for {
			select {
			case <-stop:
				return
			case t := <-inner.C():
				if p.paused.Load() {
					continue
				}
				select {
				case out <- t:
				default:
				}
			}
		}
	}()
	return &heldTicker{inner: inner, out: out, stop: stop}
}

type heldTicker struct {
	inner clock.Ticker
	out   chan time.Time
	stop  chan struct{}
	once  sync.Once
}

func (h *heldTicker) C() <-chan time.Time   { return h.out }
func (h *heldTicker) Reset(d time.Duration) { h.inner.Reset(d) }
func (h *heldTicker) Stop() {
	h.inner.Stop()
	h.once.Do(func() { close(h.stop) })
}

// node is one gateway of the pair in the test: its S7 driver (with its
// own TSAP, which the simulated PLC's write log names), its elector and
// the fenced driver its writes go through.
type node struct {
	id     uint32
	clk    *pausable
	drv    *s7.Driver
	el     *ha.Elector
	fenced plc.Driver
	cancel context.CancelFunc
	done   chan struct{}
	events chan ha.Event
}

type pair struct {
	t     *testing.T
	plc   *s7sim.Server
	mu    sync.Mutex
	log   []s7sim.WriteEvent
	nodes map[uint32]*node
}

var setpoint = plc.Tag{Name: "Kiln.Setpoint", Device: "plc1", Address: "DB1.DBW0", Type: plc.TypeInt, Access: plc.ReadWrite}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{t: t, nodes: map[uint32]*node{}}
	srv, err := s7sim.New(s7sim.Config{Addr: "127.0.0.1:0", DBs: map[int]int{1: 64, 100: 16}}, s7sim.WithOnWrite(func(ev s7sim.WriteEvent) {
		p.mu.Lock()
		p.log = append(p.log, ev)
		p.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	p.plc = srv
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func leaseConfig(id uint32, preferred ha.Role) ha.Config {
	return ha.Config{NodeID: id, PreferredRole: preferred, FailoverTimeout: timeout,
		Lease: ha.LeaseConfig{Device: "plc1", Holder: "DB100.DBD0", Epoch: "DB100.DBD4", Counter: "DB100.DBD8"}}
}

// start starts node id, connecting to addr (the PLC or a proxy to it).
func (p *pair) start(id uint32, preferred ha.Role, addr string, clk *pausable) *node {
	p.t.Helper()
	drv, err := s7.New(s7.Config{Endpoint: addr, LocalTSAP: s7.TSAP(0x0100 + id), Retry: backoff.Config{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		p.t.Fatal(err)
	}
	n := &node{id: id, clk: clk, drv: drv, events: make(chan ha.Event, 64), done: make(chan struct{})}
	n.el, err = ha.New(leaseConfig(id, preferred), drv, ha.WithClock(clk), ha.WithEvents(func(e ha.Event) {
		select {
		case n.events <- e:
		default:
		}
	}))
	if err != nil {
		p.t.Fatal(err)
	}
	n.fenced = n.el.Fence(drv)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { defer close(n.done); _ = n.el.Serve(ctx) }()
	p.nodes[id] = n
	p.t.Cleanup(func() { n.stop(); _ = drv.Close() })
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func fake() *pausable { return &pausable{Fake: clock.NewFake(time.Unix(1_800_000_000, 0))} }

// tick moves every node's clock one poll period (timeout/8) and waits
// until each unpaused, running node has read the lease at its new time.
func (p *pair) tick() {
	p.t.Helper()
	for _, n := range p.nodes {
		n.clk.Advance(timeout / 8)
	}
	for _, n := range p.nodes {
		select {
		case <-n.done:
			continue
		default:
		}
		if n.clk.paused.Load() {
			continue
		}
		want := n.clk.Now()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := n.el.Status()
			if !st.LeaseRead.Before(want) || st.LeaseError != "" {
				break
			}
			if time.Now().After(deadline) {
				p.t.Fatalf("node %d did not read the lease at %s in 30 s", n.id, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// until ticks until cond holds, at most n times.
func (p *pair) until(what string, n int, cond func() bool) int {
	p.t.Helper()
	for i := 0; ; i++ {
		if cond() {
			return i
		}
		if i >= n {
			p.t.Fatalf("%s: not after %d ticks", what, n)
		}
		p.tick()
	}
}

func (p *pair) actives() []uint32 {
	var out []uint32
	for id, n := range p.nodes {
		select {
		case <-n.done:
			continue
		default:
		}
		if n.el.Role() == ha.RoleActive {
			out = append(out, id)
		}
	}
	return out
}

// write tries a setpoint write through node n's fence.
func (n *node) write(v int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.fenced.Write(ctx, []plc.WriteItem{{Tag: setpoint, Value: plc.IntValue(plc.Int, v)}})[0]
}

// noDualWriter replays the PLC's own write log in the order its memory
// saw the writes and fails the test for any setpoint write by a node
// that was not the lease holder at that moment.
func (p *pair) noDualWriter() (applied map[uint32]int) {
	p.t.Helper()
	p.mu.Lock()
	log := append([]s7sim.WriteEvent(nil), p.log...)
	p.mu.Unlock()
	sort.Slice(log, func(i, j int) bool { return log[i].Seq < log[j].Seq })
	var holder uint32
	applied = map[uint32]int{}
	for _, ev := range log {
		writer := uint32(ev.ClientTSAP - 0x0100)
		switch {
		case ev.DB == 100 && ev.Offset == 0 && len(ev.Data) >= 4:
			holder = binary.BigEndian.Uint32(ev.Data)
		case ev.DB == 1:
			applied[writer]++
			if writer != holder {
				p.t.Errorf("write #%d to DB1 by node %d applied while the PLC's lease named node %d", ev.Seq, writer, holder)
			}
		}
	}
	return applied
}

func TestThePreferredNodeTakesAFreeLeaseAndTheOtherWaits(t *testing.T) {
	p := newPair(t)
	a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	for range 40 { // five timeouts: the standby never claims a renewed lease
		p.tick()
		if got := p.actives(); len(got) != 1 || got[0] != 1 {
			t.Fatalf("active nodes %v, want [1]", got)
		}
		if err := a.write(1); err != nil {
			t.Fatalf("active's write: %v", err)
		}
		if err := b.write(2); !errors.Is(err, ha.ErrFenced) {
			t.Fatalf("standby's write = %v, want ErrFenced", err)
		}
	}
	st := a.el.Status()
	if st.Lease.Holder != 1 || st.Lease.Epoch != 1 || st.Lease.Counter < 10 {
		t.Errorf("lease %+v, want holder 1, epoch 1, renewed", st.Lease)
	}
	if got := p.noDualWriter(); got[1] != 40 || got[2] != 0 {
		t.Errorf("writes applied %v, want 40 by node 1 and none by node 2", got)
	}
}

func TestTheStandbyTakesOverWhenTheActiveDies(t *testing.T) {
	p := newPair(t)
	a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	p.tick()
	a.stop() // SIGKILL: no more renewals
	ticks := p.until("node 2 active", 40, func() bool { return b.el.Role() == ha.RoleActive })
	// Takeover a failover timeout after the last renewal seen, plus the
	// claim's settling quarter: 8 + 2 ticks, give or take one.
	if took := time.Duration(ticks) * timeout / 8; took < timeout || took > timeout+timeout/2 {
		t.Errorf("takeover after %s of silence, want between %s and %s", took, timeout, timeout+timeout/2)
	}
	if err := b.write(7); err != nil {
		t.Fatalf("new active's write: %v", err)
	}
	if st := b.el.Status(); st.Lease.Holder != 2 || st.Lease.Epoch != 2 {
		t.Errorf("lease %+v, want node 2 in epoch 2", st.Lease)
	}
	p.noDualWriter()
}

func TestAnActivePausedPastItsLeaseIsFencedWhenItResumes(t *testing.T) {
	p := newPair(t)
	a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	a.clk.paused.Store(true) // SIGSTOP: no code runs, time goes on
	p.until("node 2 active", 40, func() bool { return b.el.Role() == ha.RoleActive })
	// SIGCONT: before its loop has run, the old active tries a write. Its
	// lease is long unconfirmed on its own monotonic clock.
	a.clk.paused.Store(false)
	if err := a.write(666); !errors.Is(err, ha.ErrFenced) {
		t.Fatalf("resumed old active's write = %v, want ErrFenced", err)
	}
	p.until("node 1 standby", 8, func() bool { return a.el.Role() == ha.RoleStandby })
	if err := b.write(5); err != nil {
		t.Fatal(err)
	}
	if got := p.noDualWriter(); got[1] != 0 {
		t.Errorf("%d writes of the fenced node were applied", got[1])
	}
}

func TestAnActiveThatLosesThePLCStopsWritingAndTheStandbyTakesOver(t *testing.T) {
	p := newPair(t)
	link := linkfault.Start(t, p.plc.Addr())
	a := p.start(1, ha.RoleActive, link.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	link.SetDown(true)
	link.Drop()
	p.until("node 2 active", 40, func() bool { return b.el.Role() == ha.RoleActive })
	if err := a.write(1); !errors.Is(err, ha.ErrFenced) {
		t.Fatalf("write of the node cut from the PLC = %v, want ErrFenced", err)
	}
	link.SetDown(false) // the cable is back: the old active finds the lease taken
	p.until("node 1 standby", 80, func() bool { return a.el.Role() == ha.RoleStandby })
	if got := p.actives(); len(got) != 1 || got[0] != 2 {
		t.Errorf("active nodes %v, want [2]", got)
	}
	p.noDualWriter()
}

func TestTwoNodesStartingAtOnceEndWithOneActive(t *testing.T) {
	for round := 0; round < 5; round++ {
		p := newPair(t)
		a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
		b := p.start(2, ha.RoleActive, p.plc.Addr(), fake()) // both think they are preferred
		p.until("someone active", 16, func() bool { return len(p.actives()) > 0 })
		for range 24 {
			p.tick()
			if got := p.actives(); len(got) != 1 {
				t.Fatalf("round %d: active nodes %v", round, got)
			}
			_ = a.write(1)
			_ = b.write(2)
		}
		p.noDualWriter()
		a.stop()
		b.stop()
	}
}

func TestAStandbyThatDiesChangesNothing(t *testing.T) {
	p := newPair(t)
	a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	b.stop()
	epoch := a.el.Status().Lease.Epoch
	for range 24 {
		p.tick()
		if err := a.write(3); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.el.Status(); st.Role != ha.RoleActive || st.Lease.Epoch != epoch {
		t.Errorf("status %+v after the standby died", st)
	}
}

func TestResignHandsTheLeaseOverAtOnce(t *testing.T) {
	p := newPair(t)
	a := p.start(1, ha.RoleActive, p.plc.Addr(), fake())
	b := p.start(2, ha.RoleStandby, p.plc.Addr(), fake())
	p.until("node 1 active", 8, func() bool { return a.el.Role() == ha.RoleActive })
	if err := a.el.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	ticks := p.until("node 2 active", 8, func() bool { return b.el.Role() == ha.RoleActive })
	if ticks > 4 {
		t.Errorf("switchover took %d ticks, want the claim's settling time only", ticks)
	}
	for range 24 { // the resigned node does not claim back
		p.tick()
		if got := p.actives(); len(got) != 1 || got[0] != 2 {
			t.Fatalf("active nodes %v, want [2]", got)
		}
	}
	if err := b.el.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.el.Resign(context.Background()); !errors.Is(err, ha.ErrNotActive) {
		t.Errorf("second Resign = %v, want ErrNotActive", err)
	}
	p.noDualWriter()
}
