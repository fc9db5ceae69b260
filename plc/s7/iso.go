package s7

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// ErrRefused is returned when the PLC refuses the COTP connection, most
// often because rack, slot or TSAPs do not match its configuration.
var ErrRefused = errors.New("s7: connection refused by the PLC (check rack, slot and TSAPs)")

// ErrTimeout is returned (wrapped) for a request the PLC did not answer
// in time; only that request fails, the connection stays up.
var ErrTimeout = errors.New("s7: no answer in time")

// ErrConnLost is returned (wrapped) for a request on a connection that
// failed (closed by the PLC, out of step, a transport error).
var ErrConnLost = errors.New("s7: connection lost")

// isoConn is one ISO-on-TCP connection (RFC 1006 TPKT, ISO 8073 COTP
// class 0) with S7 communication set up. The driver speaks this transport
// itself rather than through gos7's TCPClientHandler, which always offers
// local TSAP 0x0100 and PDU 480, refuses answers above 480 bytes and
// cannot be interrupted by a context.
//
// After the setup communication one goroutine reads every answer and
// hands it to the request with its PDU reference, so that up to jobs
// requests (the max AmQ the CPU granted) are outstanding at once,
// answered in any order.
type isoConn struct {
	conn net.Conn
	pdu  int // negotiated PDU size
	jobs int // jobs the CPU lets the client keep outstanding

	slots chan struct{} // one token per job that may be sent
	wmu   sync.Mutex    // serializes writes of whole frames

	mu      sync.Mutex
	waiting map[uint16]chan []byte // requests sent, by PDU reference
	// abandoned are the references of requests that gave up waiting;
	// their answers, if they come, are dropped.
	abandoned map[uint16]bool
	err       error         // why the connection ended
	done      chan struct{} // closed when the connection has ended
	readDone  chan struct{} // closed when readLoop has returned
	closeOnce sync.Once
}

// longAgo is a deadline in the past: setting it interrupts blocked I/O.
var longAgo = time.Unix(1, 0)

// proposeJobs is the max AmQ the driver proposes in the setup
// communication; the CPU grants at most its own limit (S7-300: 1 to 8,
// S7-1500: 3 or more).
const proposeJobs = 8

// dialISO connects to addr, opens the COTP connection from local to
// remote TSAP and negotiates a PDU size of at most propose bytes and the
// jobs in flight. ctx bounds the whole exchange.
func dialISO(ctx context.Context, addr string, local, remote uint16, propose int) (*isoConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &isoConn{conn: conn, pdu: minPDU} // until negotiated: enough for the setup answer
	if err := c.handshake(ctx, local, remote, propose); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.start()
	return c, nil
}

// start makes the connection ready for requests, once c.pdu and c.jobs
// are negotiated. With several jobs a goroutine reads the answers (Close
// stops it); with one, each request reads its own answer, which saves
// two goroutine hand-offs per request on a fast link.
func (c *isoConn) start() {
	c.slots = make(chan struct{}, c.jobs)
	for range c.jobs {
		c.slots <- struct{}{}
	}
	c.done = make(chan struct{})
	if c.jobs == 1 {
		return
	}
	c.waiting = make(map[uint16]chan []byte)
	c.abandoned = make(map[uint16]bool)
	c.readDone = make(chan struct{})
	go c.readLoop()
}

func (c *isoConn) handshake(ctx context.Context, local, remote uint16, propose int) error {
	dl, _ := ctx.Deadline()
	stop := c.interruptOn(ctx)
	defer stop()
	if err := c.conn.SetDeadline(dl); err != nil {
		return err
	}
	if _, err := c.conn.Write(wire.ConnectRequest(local, remote)); err != nil {
		return c.ctxErr(ctx, err)
	}
	frame, err := readFrame(c.conn, 512)
	if err != nil {
		return fmt.Errorf("COTP connection: %w", c.ctxErr(ctx, err))
	}
	code, _, _, err := wire.TPDU(frame)
	switch {
	case err != nil:
		return fmt.Errorf("COTP connection: %w", err)
	case code == wire.COTPDisconnect:
		return fmt.Errorf("%w: local TSAP 0x%04x, remote TSAP 0x%04x", ErrRefused, local, remote)
	case code != wire.COTPConnConfirm:
		return fmt.Errorf("COTP connection: TPDU 0x%02x where a connection confirm was expected", code)
	}
	const setupRef = 1
	if _, err := c.conn.Write(wire.Frame(wire.SetupRequest(setupRef, propose, proposeJobs))); err != nil {
		return fmt.Errorf("setup communication: %w", c.ctxErr(ctx, err))
	}
	pdu, err := c.readPDU()
	if err != nil {
		return fmt.Errorf("setup communication: %w", c.ctxErr(ctx, err))
	}
	ref, size, jobs, err := wire.ParseSetupResponse(pdu)
	switch {
	case err != nil:
		return fmt.Errorf("setup communication: %w", err)
	case ref != setupRef:
		return fmt.Errorf("setup communication: answer to request %d", ref)
	case size < minPDU:
		return fmt.Errorf("setup communication: negotiated PDU size %d is below %d", size, minPDU)
	}
	c.pdu = min(size, propose)
	c.jobs = min(jobs, proposeJobs)
	return nil
}

// request sends one TPKT frame whose PDU reference is ref and returns
// the answer with that reference, within timeout and ctx. It waits for
// a free job first. A request that gives up (ErrTimeout, ctx) leaves the
// connection usable: its answer is dropped if it still comes, and its job
// is taken until then. An error of the connection itself, or no job
// freed within timeout, is ErrConnLost (wrapped).
func (c *isoConn) request(ctx context.Context, ref uint16, frame []byte, timeout time.Duration) ([]byte, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.slots:
	case <-c.done:
		return nil, c.lostErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		// Every job is taken by answers that never came: the connection
		// is stuck.
		err := fmt.Errorf("%w: no job free within %v", ErrTimeout, timeout)
		c.fail(err)
		return nil, c.lostErr()
	}
	if c.jobs == 1 {
		defer func() { c.slots <- struct{}{} }()
		return c.roundTrip(ctx, ref, frame, timeout)
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if _, dup := c.waiting[ref]; dup {
		c.mu.Unlock()
		c.slots <- struct{}{}
		return nil, fmt.Errorf("s7: PDU reference %d already in flight", ref)
	}
	delete(c.abandoned, ref)
	c.waiting[ref] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	err := c.conn.SetWriteDeadline(time.Now().Add(timeout))
	if err == nil {
		_, err = c.conn.Write(frame)
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		return nil, c.lostErr()
	}
	select {
	case pdu := <-ch:
		c.slots <- struct{}{}
		return pdu, nil
	case <-c.done:
		return nil, c.lostErr()
	case <-ctx.Done():
		c.abandon(ref)
		return nil, ctx.Err()
	case <-t.C:
		c.abandon(ref)
		return nil, fmt.Errorf("%w: no answer within %v", ErrTimeout, timeout)
	}
}

// roundTrip sends frame and reads its answer, on a connection granting
// one job (the caller holds it). Any failure leaves the connection out of
// step, so it ends it: the answer may still come.
func (c *isoConn) roundTrip(ctx context.Context, ref uint16, frame []byte, timeout time.Duration) ([]byte, error) {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	stop := c.interruptOn(ctx)
	defer stop()
	pdu, err := func() ([]byte, error) {
		if err := c.conn.SetDeadline(dl); err != nil {
			return nil, err
		}
		if _, err := c.conn.Write(frame); err != nil {
			return nil, err
		}
		pdu, err := c.readPDU()
		switch {
		case err != nil:
			return nil, err
		case len(pdu) < wire.AckHeaderLen:
			return nil, fmt.Errorf("%w: answer of %d bytes", ErrBadResponse, len(pdu))
		case binary.BigEndian.Uint16(pdu[4:]) != ref:
			return nil, fmt.Errorf("%w: reference %d answers request %d", ErrBadResponse, binary.BigEndian.Uint16(pdu[4:]), ref)
		}
		return pdu, nil
	}()
	if err == nil {
		return pdu, nil
	}
	c.fail(err)
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return nil, c.ctxErr(ctx, err)
	case errors.As(err, &ne) && ne.Timeout():
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return nil, c.ctxErr(ctx, err)
		}
		return nil, fmt.Errorf("%w: no answer within %v", ErrTimeout, timeout)
	}
	return nil, c.lostErr()
}

// abandon stops waiting for the answer to ref. The PLC still counts the
// job as outstanding, so its job stays taken until the answer comes late
// (readLoop frees it then) or the connection ends.
func (c *isoConn) abandon(ref uint16) {
	c.mu.Lock()
	if _, ok := c.waiting[ref]; ok {
		delete(c.waiting, ref)
		c.abandoned[ref] = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// The answer arrived meanwhile: the job is done.
	c.slots <- struct{}{}
}

// readLoop reads the answers and hands each to its request, until the
// connection fails or is closed.
func (c *isoConn) readLoop() {
	defer close(c.readDone)
	for {
		pdu, err := c.readPDU()
		if err == nil && len(pdu) < wire.AckHeaderLen {
			err = fmt.Errorf("%w: answer of %d bytes", ErrBadResponse, len(pdu))
		}
		if err != nil {
			c.fail(err)
			return
		}
		ref := binary.BigEndian.Uint16(pdu[4:])
		c.mu.Lock()
		ch, ok := c.waiting[ref]
		delete(c.waiting, ref)
		late := c.abandoned[ref]
		delete(c.abandoned, ref)
		c.mu.Unlock()
		switch {
		case ok:
			ch <- pdu
		case late:
			c.slots <- struct{}{}
		default:
			// An answer nobody asked for: the connection is out of step.
			c.fail(fmt.Errorf("%w: an answer with reference %d, which no request in flight has", ErrBadResponse, ref))
			return
		}
	}
}

// readPDU reads one S7 PDU, reassembled from its data TPDUs. An answer
// larger than the negotiated PDU is an error.
func (c *isoConn) readPDU() ([]byte, error) {
	var pdu []byte
	for {
		f, err := readFrame(c.conn, c.pdu+wire.IsoHeaderLen)
		if err != nil {
			return nil, err
		}
		code, flags, data, err := wire.TPDU(f)
		switch {
		case err != nil:
			return nil, err
		case code == wire.COTPDisconnect:
			return nil, fmt.Errorf("%w: the PLC sent a disconnect request", ErrBadResponse)
		case code != wire.COTPData:
			return nil, fmt.Errorf("%w: COTP TPDU 0x%02x where data was expected", ErrBadResponse, code)
		}
		if len(pdu)+len(data) > c.pdu {
			return nil, fmt.Errorf("%w: answer exceeds the negotiated PDU of %d bytes", ErrBadResponse, c.pdu)
		}
		pdu = append(pdu, data...)
		if flags&wire.COTPEOT != 0 && len(pdu) > 0 {
			return pdu, nil
		}
	}
}

// fail ends the connection with err (the first error wins).
func (c *isoConn) fail(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		_ = c.conn.Close()
		close(c.done)
	})
}

// lostErr is the error of a request on a connection that has ended.
func (c *isoConn) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("%w: %w", ErrConnLost, c.err)
}

// interruptOn makes ctx's cancellation interrupt blocked I/O on the
// connection. The returned stop must be called before the connection's
// deadline is set again; it waits for an interruption under way.
func (c *isoConn) interruptOn(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		_ = c.conn.SetDeadline(longAgo)
		close(done)
	})
	return func() {
		if !cancel() {
			<-done
		}
	}
}

// ctxErr returns ctx's error, wrapping err, when ctx ended: the I/O error
// is then only its consequence. A deadline of ctx that the connection's
// deadline met first counts as ctx's.
func (c *isoConn) ctxErr(ctx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return fmt.Errorf("%w (%w)", e, err)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// closedByPeer reports whether the connection has ended: the PLC closed
// it, or sent bytes nobody asked for, which leaves it out of step.
func (c *isoConn) closedByPeer() bool {
	select {
	case <-c.done:
		return true
	default:
	}
	if c.jobs > 1 {
		return false // readLoop would have seen it
	}
	select {
	case <-c.slots:
	default:
		return false // a request is under way
	}
	defer func() { c.slots <- struct{}{} }()
	// Wait at most a millisecond for a close or stray bytes. (A deadline
	// already past would fail the read before looking at the socket.)
	if err := c.conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		c.fail(err)
		return true
	}
	var b [1]byte
	n, err := c.conn.Read(b[:])
	var ne net.Error
	if n > 0 || (err != nil && !(errors.As(err, &ne) && ne.Timeout())) {
		c.fail(fmt.Errorf("%w: closed by the PLC, or bytes nobody asked for", ErrBadResponse))
		return true
	}
	return false
}

// Close closes the connection and waits for its reading to end.
func (c *isoConn) Close() error {
	c.fail(net.ErrClosed)
	if c.readDone != nil {
		<-c.readDone
	}
	return nil
}

// readFrame reads one TPKT frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	switch {
	case hdr[0] != 3:
		return nil, fmt.Errorf("%w: TPKT version %d", ErrBadResponse, hdr[0])
	case n < wire.IsoHeaderLen-1 || n > max:
		return nil, fmt.Errorf("%w: TPKT length %d not in %d..%d", ErrBadResponse, n, wire.IsoHeaderLen-1, max)
	}
	f := make([]byte, n)
	copy(f, hdr[:])
	if _, err := io.ReadFull(r, f[4:]); err != nil {
		return nil, err
	}
	return f, nil
}
