package s7

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// zeroPLC is a minimal S7 peer that answers every read item with zeros
// and counts Read Var jobs.
type zeroPLC struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	reads atomic.Int64
}

func startZeroPLC(t *testing.T) *zeroPLC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &zeroPLC{ln: ln}
	z.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			z.mu.Lock()
			z.conns = append(z.conns, c)
			z.mu.Unlock()
			z.wg.Go(func() { z.serve(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		z.mu.Lock()
		for _, c := range z.conns {
			_ = c.Close()
		}
		z.mu.Unlock()
		z.wg.Wait()
	})
	return z
}

func (z *zeroPLC) serve(c net.Conn) {
	for {
		f, err := readFrame(c, 1<<16)
		if err != nil {
			return
		}
		code, _, data, err := wire.TPDU(f)
		if err != nil {
			return
		}
		var resp []byte
		switch code {
		case wire.COTPConnRequest:
			resp = []byte{3, 0, 0, 22, 17, wire.COTPConnConfirm, 0, 0, 0, 1, 0, 0xC0, 1, 10, 0xC1, 2, 1, 0, 0xC2, 2, 1, 1}
		case wire.COTPData:
			j, err := wire.ParseJob(data)
			if err != nil {
				return
			}
			switch j.Func {
			case wire.FuncSetup:
				resp = wire.Frame(wire.AckData(j.Ref, 0, 0, []byte{wire.FuncSetup, 0, 0, 1, 0, 1, 1, 0xE0}, nil))
			case wire.FuncRead:
				z.reads.Add(1)
				var items []byte
				for i, it := range j.Items {
					n := it.DataLen()
					items = append(items, wire.RCSuccess, wire.DataByte, byte(n*8>>8), byte(n*8))
					items = append(items, make([]byte, n)...)
					if i < len(j.Items)-1 && n&1 == 1 {
						items = append(items, 0)
					}
				}
				resp = wire.Frame(wire.AckData(j.Ref, 0, 0, []byte{wire.FuncRead, byte(len(j.Items))}, items))
			default:
				return
			}
		default:
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// TestPlanIsMadeOnceAndReused reads a scan group several times: the plan
// is made on the first read and the same plan serves every read after.
func TestPlanIsMadeOnceAndReused(t *testing.T) {
	z := startZeroPLC(t)
	d, err := New(Config{Endpoint: z.ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var tags []plc.Tag
	for i := range 300 {
		tags = append(tags, plc.Tag{Name: fmt.Sprint("t", i), Address: fmt.Sprintf("DB%d.DBW%d", 1+i%3, i*40), Type: plc.TypeInt})
	}
	pr, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	r := pr.(*reader)
	out := make([]plc.Sample, len(tags))
	var first *readPlan
	for n := range 5 {
		before := z.reads.Load()
		if err := r.Read(context.Background(), out); err != nil {
			t.Fatal(err)
		}
		for _, s := range out {
			if !s.Quality.IsGood() {
				t.Fatalf("read %d: %s %v", n, s.Tag, s.Quality)
			}
		}
		if len(r.plans) != 1 || r.plans[480] == nil {
			t.Fatalf("read %d: plans %v", n, r.plans)
		}
		if n == 0 {
			first = r.plans[480]
		} else if r.plans[480] != first {
			t.Fatalf("read %d made a new plan", n)
		}
		if got := z.reads.Load() - before; got != int64(len(first.reqs)) {
			t.Errorf("read %d: %d requests, the plan has %d", n, got, len(first.reqs))
		}
	}
}
