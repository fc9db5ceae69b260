package s7

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// peer answers the frames the client sends on c with answers[i] for the
// i-th frame, then closes c.
func peer(t *testing.T, c net.Conn, answers ...[]byte) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer c.Close()
		for _, a := range answers {
			if _, err := readFrame(c, 1<<16); err != nil {
				return
			}
			if _, err := c.Write(a); err != nil {
				return
			}
		}
	})
	return &wg
}

func setupAnswer(pdu int) []byte {
	return wire.Frame(wire.AckData(1, 0, 0, wire.SetupParam(pdu, 1), nil))
}

var connectConfirm = []byte{3, 0, 0, 22, 17, wire.COTPConnConfirm, 0, 0, 0, 1, 0, 0xC0, 1, 10, 0xC1, 2, 1, 0, 0xC2, 2, 1, 1}

func TestHandshakeTakesTheSmallerPDU(t *testing.T) {
	for _, tc := range []struct{ propose, grant, want int }{{960, 480, 480}, {240, 960, 240}, {960, 960, 960}} {
		a, b := net.Pipe()
		wg := peer(t, b, connectConfirm, setupAnswer(tc.grant))
		c := &isoConn{conn: a, pdu: minPDU}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.handshake(ctx, 0x0100, 0x0101, tc.propose)
		cancel()
		_ = a.Close()
		wg.Wait()
		if err != nil || c.pdu != tc.want {
			t.Errorf("propose %d, grant %d: PDU %d, %v; want %d", tc.propose, tc.grant, c.pdu, err, tc.want)
		}
	}
}

func TestHandshakeRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		answers [][]byte
		want    error
	}{
		"disconnect request": {[][]byte{{3, 0, 0, 11, 6, wire.COTPDisconnect, 0, 0, 0, 1, 0}}, ErrRefused},
		"setup refused":      {[][]byte{connectConfirm, wire.Frame(wire.AckData(1, 0x81, 0x04, nil, nil))}, nil},
		"PDU too small":      {[][]byte{connectConfirm, setupAnswer(32)}, nil},
		"not TPKT":           {[][]byte{{4, 0, 0, 7, 2, 0xF0, 0x80}}, ErrBadResponse},
	} {
		a, b := net.Pipe()
		wg := peer(t, b, tc.answers...)
		c := &isoConn{conn: a, pdu: minPDU}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.handshake(ctx, 0x0100, 0x0101, 480)
		cancel()
		_ = a.Close()
		wg.Wait()
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAnswerInSeveralTPDUs reassembles an answer the PLC sends in two
// data TPDUs, and refuses one larger than the negotiated PDU.
func TestAnswerInSeveralTPDUs(t *testing.T) {
	ans := wire.AckData(7, 0, 0, []byte{wire.FuncRead, 1}, []byte{wire.RCSuccess, wire.DataByte, 0, 32, 1, 2, 3, 4})
	first := []byte{3, 0, 0, 0, 2, wire.COTPData, 0}
	first = append(first, ans[:5]...)
	first[3] = byte(len(first))
	last := wire.Frame(ans[5:])
	a, b := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer b.Close()
		if _, err := readFrame(b, 1<<16); err != nil {
			return
		}
		_, _ = b.Write(first)
		_, _ = b.Write(last)
	})
	c := &isoConn{conn: a, pdu: 240, jobs: 1}
	c.start()
	got, err := c.request(context.Background(), 7, wire.Frame(wire.ReadRequest(7, nil)), 5*time.Second)
	_ = c.Close()
	wg.Wait()
	if err != nil || !bytes.Equal(got, ans) {
		t.Fatalf("reassembled % x, %v; want % x", got, err, ans)
	}

	a, b = net.Pipe()
	wg2 := peer(t, b, wire.Frame(make([]byte, 100)))
	c = &isoConn{conn: a, pdu: 64, jobs: 1}
	c.start()
	_, err = c.request(context.Background(), 7, wire.Frame(wire.ReadRequest(7, nil)), 5*time.Second)
	_ = c.Close()
	wg2.Wait()
	if !errors.Is(err, ErrBadResponse) || !errors.Is(err, ErrConnLost) {
		t.Errorf("answer over the PDU: %v", err)
	}
}

// FuzzRoundTrip feeds arbitrary bytes to the client as the PLC's answer:
// it must never panic, and what it accepts fits the negotiated PDU.
func FuzzRoundTrip(f *testing.F) {
	f.Add(wire.Frame(wire.AckData(1, 0, 0, []byte{wire.FuncRead, 0}, nil)))
	f.Add([]byte{3, 0, 0, 9, 2, wire.COTPData, 0, 0x32, 3, 3, 0, 0, 9, 2, wire.COTPData, 0x80, 0x32, 3})
	f.Add([]byte{3, 0, 0, 11, 6, wire.COTPDisconnect, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, answer []byte) {
		for _, jobs := range []int{1, 2} { // each request reads its answer; a goroutine reads them all
			a, b := net.Pipe()
			var wg sync.WaitGroup
			wg.Go(func() {
				defer b.Close()
				if _, err := readFrame(b, 1<<16); err == nil {
					_, _ = b.Write(answer)
				}
			})
			c := &isoConn{conn: a, pdu: 64, jobs: jobs}
			c.start()
			ref := uint16(1)
			if len(answer) >= wire.IsoHeaderLen+6 {
				ref = uint16(answer[wire.IsoHeaderLen+4])<<8 | uint16(answer[wire.IsoHeaderLen+5])
			}
			pdu, err := c.request(context.Background(), ref, wire.Frame(wire.ReadRequest(ref, nil)), time.Second)
			_ = c.Close()
			wg.Wait()
			if err == nil && (len(pdu) == 0 || len(pdu) > 64) {
				t.Fatalf("jobs %d: accepted an answer of %d bytes at PDU 64", jobs, len(pdu))
			}
		}
	})
}

// TestDeadlineOfTheCaller ends a request the peer never answers at the
// caller's deadline, reported as context.DeadlineExceeded.
func TestDeadlineOfTheCaller(t *testing.T) {
	a, b := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = readFrame(b, 1<<16) }) // reads the request, never answers
	c := &isoConn{conn: a, pdu: 240, jobs: 1}
	c.start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.request(ctx, 1, wire.Frame(wire.ReadRequest(1, nil)), time.Hour)
	_ = c.Close()
	_ = b.Close()
	wg.Wait()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request past the caller's deadline: %v", err)
	}
}

func TestHandshakeTakesTheGrantedJobs(t *testing.T) {
	for _, tc := range []struct{ grant, want int }{{1, 1}, {3, 3}, {0, 1}, {100, proposeJobs}} {
		a, b := net.Pipe()
		wg := peer(t, b, connectConfirm, wire.Frame(wire.AckData(1, 0, 0, wire.SetupParam(480, tc.grant), nil)))
		c := &isoConn{conn: a, pdu: minPDU}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.handshake(ctx, 0x0100, 0x0101, 480)
		cancel()
		_ = a.Close()
		wg.Wait()
		if err != nil || c.jobs != tc.want {
			t.Errorf("grant %d: %d jobs, %v; want %d", tc.grant, c.jobs, err, tc.want)
		}
	}
}

// readAck is the answer to a Read Var of one byte, with reference ref.
func readAck(ref uint16, b byte) []byte {
	return wire.Frame(wire.AckData(ref, 0, 0, []byte{wire.FuncRead, 1}, []byte{wire.RCSuccess, wire.DataByte, 0, 8, b}))
}

// Three jobs in flight, answered in reverse order, one answer lost: each
// request gets its own answer, the lost one times out alone, its late
// answer is dropped, and the connection carries the next request.
func TestJobsInFlightMatchedByReference(t *testing.T) {
	a, b := net.Pipe()
	var wg sync.WaitGroup
	late := make(chan struct{})
	wg.Go(func() {
		defer b.Close()
		var refs []uint16
		for range 3 {
			f, err := readFrame(b, 1<<16)
			if err != nil {
				return
			}
			refs = append(refs, uint16(f[wire.IsoHeaderLen+4])<<8|uint16(f[wire.IsoHeaderLen+5]))
		}
		for i := len(refs) - 1; i >= 0; i-- {
			if refs[i] == 12 {
				continue // lost
			}
			if _, err := b.Write(readAck(refs[i], byte(refs[i]))); err != nil {
				return
			}
		}
		<-late
		_, _ = b.Write(readAck(12, 12)) // the lost answer, late
		f, err := readFrame(b, 1<<16)
		if err != nil {
			return
		}
		_, _ = b.Write(readAck(uint16(f[wire.IsoHeaderLen+5]), 99))
	})
	c := &isoConn{conn: a, pdu: 240, jobs: 3}
	c.start()
	defer c.Close()
	var rg sync.WaitGroup
	got := make([][]byte, 3)
	errs := make([]error, 3)
	for i := range 3 {
		rg.Go(func() {
			ref := uint16(11 + i)
			timeout := 20 * time.Second
			if ref == 12 {
				timeout = 200 * time.Millisecond
			}
			got[i], errs[i] = c.request(context.Background(), ref, wire.Frame(wire.ReadRequest(ref, nil)), timeout)
		})
	}
	rg.Wait()
	for i, ref := range []uint16{11, 12, 13} {
		if ref == 12 {
			if !errors.Is(errs[i], ErrTimeout) {
				t.Errorf("lost answer: %v, want ErrTimeout", errs[i])
			}
			continue
		}
		if errs[i] != nil || len(got[i]) == 0 || got[i][len(got[i])-1] != byte(ref) {
			t.Errorf("request %d: % x, %v", ref, got[i], errs[i])
		}
	}
	close(late)
	pdu, err := c.request(context.Background(), 14, wire.Frame(wire.ReadRequest(14, nil)), 20*time.Second)
	if err != nil || pdu[len(pdu)-1] != 99 {
		t.Fatalf("request after the lost one: % x, %v", pdu, err)
	}
	_ = c.Close()
	wg.Wait()
}
