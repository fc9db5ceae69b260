//go:build linux

package netns

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func echo(t *testing.T, ln net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

func roundTrip(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

func TestALinkCarriesTrafficUntilItIsCut(t *testing.T) {
	lab := New(t)
	gw, plc, peer := lab.Host("gw"), lab.Host("plc"), lab.Host("peer")
	toPLC := lab.Link(gw, plc)
	toPeer := lab.Link(gw, peer)
	ln, err := plc.Listen("tcp", toPLC.Addr(plc)+":102")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, ln)
	pln, err := peer.Listen("tcp", toPeer.Addr(peer)+":7000")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, pln)
	c, err := gw.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Fatalf("gw to plc: %v", err)
	}
	toPLC.Cut()
	if err := roundTrip(c); err == nil {
		t.Error("traffic crossed a cut link")
	}
	// Cutting one link leaves the other alone.
	pc, err := gw.Dial("tcp", pln.Addr().String())
	if err != nil {
		t.Fatalf("gw to peer with the PLC link cut: %v", err)
	}
	defer pc.Close()
	if err := roundTrip(pc); err != nil {
		t.Errorf("gw to peer: %v", err)
	}
	toPLC.Restore()
	c2, err := gw.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("after restore: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2); err != nil {
		t.Errorf("after restore: %v", err)
	}
}

func TestCommandsRunInsideTheirHost(t *testing.T) {
	lab := New(t)
	h := lab.Host("solo")
	out, err := h.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); len(s) == 0 || !strings.Contains(s, "lo") || strings.Contains(s, "eth0") {
		t.Errorf("links inside the host: %s", s)
	}
}
