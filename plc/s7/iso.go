package s7

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// ErrRefused is returned when the PLC refuses the COTP connection, most
// often because rack, slot or TSAPs do not match its configuration.
var ErrRefused = errors.New("s7: connection refused by the PLC (check rack, slot and TSAPs)")

// isoConn is one ISO-on-TCP connection (RFC 1006 TPKT, ISO 8073 COTP
// class 0) with S7 communication set up. The driver speaks this transport
// itself rather than through gos7's TCPClientHandler, which always offers
// local TSAP 0x0100 and PDU 480, refuses answers above 480 bytes and
// cannot be interrupted by a context. It is used by one request at a
// time.
type isoConn struct {
	conn net.Conn
	pdu  int // negotiated PDU size
}

// longAgo is a deadline in the past: setting it interrupts blocked I/O.
var longAgo = time.Unix(1, 0)

// dialISO connects to addr, opens the COTP connection from local to
// remote TSAP and negotiates a PDU size of at most propose bytes. ctx
// bounds the whole exchange.
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
	return c, nil
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
	pdu, err := c.roundTrip(ctx, wire.Frame(wire.SetupRequest(setupRef, propose)))
	if err != nil {
		return fmt.Errorf("setup communication: %w", err)
	}
	ref, size, err := wire.ParseSetupResponse(pdu)
	switch {
	case err != nil:
		return fmt.Errorf("setup communication: %w", err)
	case ref != setupRef:
		return fmt.Errorf("setup communication: answer to request %d", ref)
	case size < minPDU:
		return fmt.Errorf("setup communication: negotiated PDU size %d is below %d", size, minPDU)
	}
	c.pdu = min(size, propose)
	return nil
}

// request sends one TPKT frame and returns the answer's S7 PDU, within
// timeout and ctx.
func (c *isoConn) request(ctx context.Context, frame []byte, timeout time.Duration) ([]byte, error) {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	if err := c.conn.SetDeadline(dl); err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, frame)
}

// roundTrip sends one TPKT frame and returns the S7 PDU of the answer,
// reassembled from its data TPDUs. The connection's deadline must be set;
// cancelling ctx interrupts the exchange. An answer larger than the
// negotiated PDU is an error.
func (c *isoConn) roundTrip(ctx context.Context, frame []byte) ([]byte, error) {
	stop := c.interruptOn(ctx)
	defer stop()
	if _, err := c.conn.Write(frame); err != nil {
		return nil, c.ctxErr(ctx, err)
	}
	var pdu []byte
	for {
		f, err := readFrame(c.conn, c.pdu+wire.IsoHeaderLen)
		if err != nil {
			return nil, c.ctxErr(ctx, err)
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

// closedByPeer reports, waiting at most a millisecond, whether the peer
// closed the idle connection (or sent bytes nobody asked for, which leaves
// it out of step as well). Only call it with no request under way. (A
// deadline already past would fail the read before looking at the
// socket.)
func (c *isoConn) closedByPeer() bool {
	if err := c.conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return true
	}
	var b [1]byte
	n, err := c.conn.Read(b[:])
	var ne net.Error
	return n > 0 || (err != nil && !(errors.As(err, &ne) && ne.Timeout()))
}

// Close closes the connection.
func (c *isoConn) Close() error { return c.conn.Close() }

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
