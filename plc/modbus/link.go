package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// link is one connection to a device: Modbus TCP with transactions in
// flight, or RTU frames over a serial port or TCP, one at a time.
type link interface {
	// roundTrip sends one request PDU to unit and returns the answer PDU
	// (which may be an exception response), within timeout.
	roundTrip(ctx context.Context, unit byte, pdu []byte, timeout time.Duration) ([]byte, error)
	// lost is closed when the link has failed and must be rebuilt.
	lost() <-chan struct{}
	close() error
}

// tcpLink is a Modbus TCP connection. Up to inFlight requests wait for
// their answers at once; one goroutine reads answers and hands each to
// its request by transaction id.
type tcpLink struct {
	c   net.Conn
	sem chan struct{}

	mu      sync.Mutex // guards pending, next, err
	pending map[uint16]chan []byte
	next    uint16
	err     error

	wmu      sync.Mutex // one frame written at a time
	received atomic.Uint64
	failed   chan struct{}
	failOnce sync.Once
	done     chan struct{} // the reader has returned
}

func newTCPLink(c net.Conn, inFlight int) *tcpLink {
	l := &tcpLink{c: c, sem: make(chan struct{}, inFlight), pending: map[uint16]chan []byte{}, failed: make(chan struct{}), done: make(chan struct{})}
	go l.read()
	return l
}

func (l *tcpLink) lost() <-chan struct{} { return l.failed }

func (l *tcpLink) fail(err error) {
	l.failOnce.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		_ = l.c.Close()
		close(l.failed)
	})
}

func (l *tcpLink) close() error {
	l.fail(net.ErrClosed)
	<-l.done
	return nil
}

// read hands answers to their requests; an answer to no waiting request
// (one that timed out) is dropped.
func (l *tcpLink) read() {
	defer close(l.done)
	for {
		txid, _, pdu, err := wire.ReadMBAP(l.c)
		if err != nil {
			if errors.Is(err, wire.ErrFrame) {
				err = fmt.Errorf("%w: %w", ErrBadResponse, err)
			}
			l.fail(err)
			return
		}
		l.received.Add(1)
		l.mu.Lock()
		ch := l.pending[txid]
		delete(l.pending, txid)
		l.mu.Unlock()
		if ch != nil {
			ch <- pdu
		}
	}
}

func (l *tcpLink) roundTrip(ctx context.Context, unit byte, pdu []byte, timeout time.Duration) ([]byte, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.failed:
		return nil, l.failure()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.sem }()
	ch := make(chan []byte, 1)
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return nil, l.failure()
	}
	for {
		l.next++
		if _, busy := l.pending[l.next]; !busy {
			break
		}
	}
	txid := l.next
	l.pending[txid] = ch
	l.mu.Unlock()
	seen := l.received.Load()

	l.wmu.Lock()
	_ = l.c.SetWriteDeadline(time.Now().Add(timeout))
	_, err := l.c.Write(wire.MBAP(txid, unit, pdu))
	l.wmu.Unlock()
	if err != nil {
		l.fail(err)
		return nil, l.failure()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case resp := <-ch:
		return resp, nil
	case <-l.failed:
		return nil, l.failure()
	case <-ctx.Done():
		l.forget(txid)
		return nil, ctx.Err()
	case <-t.C:
		l.forget(txid)
		if l.received.Load() == seen {
			// Nothing at all came back: the device or the path is gone.
			l.fail(ErrTimeout)
		}
		return nil, ErrTimeout
	}
}

func (l *tcpLink) forget(txid uint16) {
	l.mu.Lock()
	delete(l.pending, txid)
	l.mu.Unlock()
}

func (l *tcpLink) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Errorf("modbus: connection lost: %w", l.err)
}

// deadliner is a byte stream with read deadlines: a net.Conn or a
// serial port opened as *os.File.
type deadliner interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
}

// rtuLink carries RTU frames, one request at a time, with Delay between
// an answer and the next request.
type rtuLink struct {
	rw    deadliner
	delay time.Duration
	clk   clock.Clock

	mu       sync.Mutex // one request at a time; guards last, stale
	last     time.Time  // when the last answer ended
	stale    bool       // a request timed out: its answer may still come
	failed   chan struct{}
	failOnce sync.Once
	err      atomic.Pointer[error]
}

func newRTULink(rw deadliner, delay time.Duration, clk clock.Clock) *rtuLink {
	return &rtuLink{rw: rw, delay: delay, clk: clk, failed: make(chan struct{})}
}

func (l *rtuLink) lost() <-chan struct{} { return l.failed }

func (l *rtuLink) fail(err error) {
	l.failOnce.Do(func() {
		l.err.Store(&err)
		_ = l.rw.Close()
		close(l.failed)
	})
}

func (l *rtuLink) close() error {
	l.fail(net.ErrClosed)
	return nil
}

func (l *rtuLink) failure() error {
	if p := l.err.Load(); p != nil {
		return fmt.Errorf("modbus: connection lost: %w", *p)
	}
	return errors.New("modbus: connection lost")
}

// staleWait is how long stale bytes are drained before a request that
// follows a timed-out one.
const staleWait = 20 * time.Millisecond

func (l *rtuLink) roundTrip(ctx context.Context, unit byte, pdu []byte, timeout time.Duration) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.failed:
		return nil, l.failure()
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.delay > 0 && !l.last.IsZero() {
		if wait := l.delay - l.clk.Now().Sub(l.last); wait > 0 {
			t := l.clk.NewTimer(wait)
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	if l.stale {
		l.drain()
	}
	// Cancelling ctx interrupts the read through its deadline.
	stop := context.AfterFunc(ctx, func() { _ = l.rw.SetReadDeadline(time.Now()) })
	defer stop()
	if _, err := l.rw.Write(wire.RTU(unit, pdu)); err != nil {
		l.fail(err)
		return nil, l.failure()
	}
	deadline := time.Now().Add(timeout)
	for {
		_ = l.rw.SetReadDeadline(deadline)
		u, resp, err := wire.ReadRTU(l.rw, false)
		switch {
		case err == nil && u == unit:
			l.last = l.clk.Now()
			return resp, nil
		case err == nil:
			continue // a late answer of another unit
		case ctx.Err() != nil:
			l.stale = true
			return nil, ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.stale = true
			return nil, ErrTimeout
		case errors.Is(err, wire.ErrFrame):
			l.stale = true
			return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
		}
		l.fail(err)
		return nil, l.failure()
	}
}

// drain discards what arrives within staleWait: the late answer of a
// request that timed out, or the rest of a garbled frame.
func (l *rtuLink) drain() {
	buf := make([]byte, 256)
	for {
		_ = l.rw.SetReadDeadline(time.Now().Add(staleWait))
		if n, err := l.rw.Read(buf); err != nil || n == 0 {
			break
		}
	}
	l.stale = false
}
