package s7sim

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// dialRaw opens a COTP connection and sets up communication proposing
// jobs; it returns the connection and the jobs granted.
func dialRaw(t *testing.T, s *Server, jobs int) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if _, err := c.Write(wire.ConnectRequest(0x0100, 0x0101)); err != nil {
		t.Fatal(err)
	}
	readTPKT(t, r)
	if _, err := c.Write(wire.Frame(wire.SetupRequest(1, 480, jobs))); err != nil {
		t.Fatal(err)
	}
	_, _, granted, err := wire.ParseSetupResponse(readTPKT(t, r)[wire.IsoHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	return c, r, granted
}

func readTPKT(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(r, hdr); err != nil {
		t.Fatal(err)
	}
	f := make([]byte, binary.BigEndian.Uint16(hdr[2:]))
	copy(f, hdr)
	if _, err := io.ReadFull(r, f[4:]); err != nil {
		t.Fatal(err)
	}
	return f
}

var oneByte = []wire.Item{{TS: wire.TSByte, Count: 1, DB: 1, Area: wire.AreaDB, Start: 0}}

func TestGrantsJobsAndAnswersThemReordered(t *testing.T) {
	s, err := New(Config{MaxJobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetLatency(50 * time.Millisecond)
	s.SetReorder(true)
	c, r, granted := dialRaw(t, s, 8)
	if granted != 3 {
		t.Fatalf("granted %d jobs, want 3", granted)
	}
	for ref := uint16(10); ref < 13; ref++ {
		if _, err := c.Write(wire.Frame(wire.ReadRequest(ref, oneByte))); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint16
	for range 3 {
		f := readTPKT(t, r)
		got = append(got, binary.BigEndian.Uint16(f[wire.IsoHeaderLen+4:]))
	}
	if got[0] != 12 || got[1] != 11 || got[2] != 10 || s.MostJobsInFlight() != 3 {
		t.Fatalf("answers %v, most in flight %d; want 12 11 10 and 3", got, s.MostJobsInFlight())
	}
}

func TestMoreJobsThanGrantedCloseTheConnectionUndone(t *testing.T) {
	s, err := New(Config{}) // grants 1
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetLatency(100 * time.Millisecond)
	c, r, granted := dialRaw(t, s, 8)
	if granted != 1 {
		t.Fatalf("granted %d jobs, want 1", granted)
	}
	write := wire.Frame(wire.WriteRequest(21, oneByte, [][]byte{{7}}))
	for _, f := range [][]byte{wire.Frame(wire.ReadRequest(20, oneByte)), write} {
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	readTPKT(t, r) // the first job's answer
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection carried on after a second job in flight")
	}
	if v := s.Violations(); v != 1 {
		t.Errorf("%d violations, want 1", v)
	}
	if b, err := s.ReadBytes(s7.AreaDB, 1, 0, 1); err != nil || b[0] != 0 {
		t.Errorf("the refused write was done: DB1.DBB0 = %v, %v", b, err)
	}
}
