//go:build linux

package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

var labs atomic.Int32

// Lab is a set of namespaces and links, removed when the test ends.
type Lab struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	hosts  []*Host
	links  int
}

// Host is one network namespace.
type Host struct {
	lab  *Lab
	name string // the namespace's name
	Name string // the name the test gave it
}

// Link is a veth pair between two hosts.
type Link struct {
	a, b         *Host
	devA, devB   string
	addrA, addrB string
}

// New starts a lab. It fails the test when it cannot make namespaces
// (not root, no iproute2).
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netns: network namespace tests need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("netns: the ip command (iproute2) is missing")
	}
	l := &Lab{t: t, prefix: fmt.Sprintf("k%d%d", os.Getpid()%100000, labs.Add(1))}
	t.Cleanup(l.close)
	return l
}

func (l *Lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("netns: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Host makes a namespace with its loopback up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h := &Host{lab: l, name: l.prefix + "-" + name, Name: name}
	l.ip("netns", "add", h.name)
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	l.ip("-n", h.name, "link", "set", "lo", "up")
	return h
}

// Link joins a and b with a veth pair of their own, a /30 of
// 169.254.0.0/16 per link.
func (l *Lab) Link(a, b *Host) *Link {
	l.t.Helper()
	l.mu.Lock()
	n := l.links
	l.links++
	l.mu.Unlock()
	if n > 250 {
		l.t.Fatal("netns: too many links in one lab")
	}
	k := &Link{a: a, b: b,
		devA: fmt.Sprintf("%sa%d", l.prefix, n), devB: fmt.Sprintf("%sb%d", l.prefix, n),
		addrA: fmt.Sprintf("169.254.%d.1", n+1), addrB: fmt.Sprintf("169.254.%d.2", n+1)}
	if len(k.devA) > 15 {
		l.t.Fatalf("netns: interface name %s too long", k.devA)
	}
	l.ip("link", "add", k.devA, "netns", a.name, "type", "veth", "peer", "name", k.devB, "netns", b.name)
	l.ip("-n", a.name, "addr", "add", k.addrA+"/30", "dev", k.devA)
	l.ip("-n", b.name, "addr", "add", k.addrB+"/30", "dev", k.devB)
	k.Restore()
	return k
}

// Addr returns h's address on this link.
func (k *Link) Addr(h *Host) string {
	if h == k.a {
		return k.addrA
	}
	return k.addrB
}

// Cut takes the link down at both ends, as a pulled cable.
func (k *Link) Cut() {
	k.a.lab.ip("-n", k.a.name, "link", "set", k.devA, "down")
	k.a.lab.ip("-n", k.b.name, "link", "set", k.devB, "down")
}

// Restore brings the link up again.
func (k *Link) Restore() {
	k.a.lab.ip("-n", k.a.name, "link", "set", k.devA, "up")
	k.a.lab.ip("-n", k.b.name, "link", "set", k.devB, "up")
}

// Command returns a command that runs name inside h (ip netns exec).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.name, name}, args...)...)
}

// Do runs fn on an OS thread switched into h's namespace; sockets fn
// makes belong to h and keep working from any goroutine afterwards. The
// thread is discarded, never returned to the scheduler in h.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread dies with the goroutine
		f, err := os.Open(filepath.Join("/var/run/netns", h.name))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", h.name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Listen listens on addr inside h.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dial dials addr from inside h.
func (h *Host) Dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.Dial(network, addr)
		return err
	})
	return c, err
}

func (l *Lab) close() {
	l.mu.Lock()
	hosts := l.hosts
	l.hosts = nil
	l.mu.Unlock()
	for _, h := range hosts {
		if out, err := exec.Command("ip", "netns", "del", h.name).CombinedOutput(); err != nil {
			l.t.Errorf("netns: removing %s: %v: %s", h.name, err, out)
		}
	}
}
