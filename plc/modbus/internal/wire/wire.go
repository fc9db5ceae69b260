package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Function codes.
const (
	FCReadCoils              byte = 0x01
	FCReadDiscreteInputs     byte = 0x02
	FCReadHoldingRegisters   byte = 0x03
	FCReadInputRegisters     byte = 0x04
	FCWriteSingleCoil        byte = 0x05
	FCWriteSingleRegister    byte = 0x06
	FCWriteMultipleCoils     byte = 0x0F
	FCWriteMultipleRegisters byte = 0x10
)

// Protocol limits (Modbus Application Protocol 1.1b3, §6).
const (
	MaxReadRegisters  = 125
	MaxReadBits       = 2000
	MaxWriteRegisters = 123
	MaxWriteBits      = 1968
	MaxPDU            = 253
	MBAPHeaderLen     = 7
)

// ErrFrame is wrapped by every error about bytes that are not a valid
// Modbus frame or PDU.
var ErrFrame = errors.New("modbus: malformed frame")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
}

// ExceptionError is an exception response: the function it answers and
// its code.
type ExceptionError struct {
	Function byte
	Code     byte
}

// Error implements error.
func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: exception 0x%02x to function 0x%02x", e.Code, e.Function)
}

// ReadRequest returns the PDU of a read of qty items from addr.
func ReadRequest(fc byte, addr, qty uint16) []byte {
	return []byte{fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
}

// WriteSingle returns the PDU of FC05 or FC06. For a coil, value is
// 0xFF00 (on) or 0x0000 (off).
func WriteSingle(fc byte, addr, value uint16) []byte {
	return []byte{fc, byte(addr >> 8), byte(addr), byte(value >> 8), byte(value)}
}

// WriteMultiple returns the PDU of FC15 (qty coils packed in data) or
// FC16 (qty registers in data).
func WriteMultiple(fc byte, addr, qty uint16, data []byte) []byte {
	p := make([]byte, 6, 6+len(data))
	p[0] = fc
	binary.BigEndian.PutUint16(p[1:], addr)
	binary.BigEndian.PutUint16(p[3:], qty)
	p[5] = byte(len(data))
	return append(p, data...)
}

// Check returns the answer's body after the function code, an
// *ExceptionError for an exception response, or an error wrapping
// ErrFrame when the answer does not answer function fc.
func Check(fc byte, resp []byte) ([]byte, error) {
	if len(resp) == 0 {
		return nil, bad("empty PDU")
	}
	if resp[0] == fc|0x80 {
		if len(resp) != 2 {
			return nil, bad("exception response of %d bytes", len(resp))
		}
		return nil, &ExceptionError{Function: fc, Code: resp[1]}
	}
	if resp[0] != fc {
		return nil, bad("function 0x%02x answers a request of 0x%02x", resp[0], fc)
	}
	return resp[1:], nil
}

// ParseRead returns the data of a read answer to function fc for qty
// items: 2*qty bytes for registers, the packed bits for coils and inputs.
func ParseRead(fc byte, qty uint16, resp []byte) ([]byte, error) {
	body, err := Check(fc, resp)
	if err != nil {
		return nil, err
	}
	want := 2 * int(qty)
	if fc == FCReadCoils || fc == FCReadDiscreteInputs {
		want = (int(qty) + 7) / 8
	}
	if len(body) < 1 || int(body[0]) != want || len(body) != 1+want {
		return nil, bad("read answer of %d bytes for %d items", len(body), qty)
	}
	return body[1:], nil
}

// ParseWrite checks a write answer: it echoes address and value or
// quantity.
func ParseWrite(req, resp []byte) error {
	body, err := Check(req[0], resp)
	if err != nil {
		return err
	}
	if len(body) != 4 || string(body) != string(req[1:5]) {
		return bad("write answer % x does not echo the request", body)
	}
	return nil
}

// MBAP frames a PDU for Modbus TCP.
func MBAP(txid uint16, unit byte, pdu []byte) []byte {
	f := make([]byte, MBAPHeaderLen, MBAPHeaderLen+len(pdu))
	binary.BigEndian.PutUint16(f, txid)
	binary.BigEndian.PutUint16(f[4:], uint16(len(pdu)+1))
	f[6] = unit
	return append(f, pdu...)
}

// ReadMBAP reads one Modbus TCP frame from r.
func ReadMBAP(r io.Reader) (txid uint16, unit byte, pdu []byte, err error) {
	var h [MBAPHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	if proto := binary.BigEndian.Uint16(h[2:]); proto != 0 {
		return 0, 0, nil, bad("protocol id %d, want 0", proto)
	}
	n := int(binary.BigEndian.Uint16(h[4:]))
	if n < 2 || n > MaxPDU+1 {
		return 0, 0, nil, bad("MBAP length %d", n)
	}
	pdu = make([]byte, n-1)
	if _, err := io.ReadFull(r, pdu); err != nil {
		return 0, 0, nil, err
	}
	return binary.BigEndian.Uint16(h[:]), h[6], pdu, nil
}

// CRC returns the Modbus CRC-16 of b.
func CRC(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// RTU frames a PDU for Modbus RTU: unit, PDU, CRC low byte first.
func RTU(unit byte, pdu []byte) []byte {
	f := make([]byte, 0, len(pdu)+3)
	f = append(f, unit)
	f = append(f, pdu...)
	crc := CRC(f)
	return append(f, byte(crc), byte(crc>>8))
}

// ReadRTU reads one RTU frame from r, a request when request is true
// (server side) else an answer; RTU frames carry no length, so it is
// derived from the function code.
func ReadRTU(r io.Reader, request bool) (unit byte, pdu []byte, err error) {
	f := make([]byte, 3, 7+255+2) // the longest: a FC15/16 request with 255 data bytes
	if _, err := io.ReadFull(r, f); err != nil {
		return 0, nil, err
	}
	fc := f[1]
	var rest int // bytes after the first three, CRC included
	switch {
	case !request && fc&0x80 != 0:
		rest = 2
	case !request && fc >= FCReadCoils && fc <= FCReadInputRegisters:
		rest = int(f[2]) + 2
	case fc == FCWriteSingleCoil || fc == FCWriteSingleRegister || fc <= FCReadInputRegisters && fc >= FCReadCoils,
		!request && (fc == FCWriteMultipleCoils || fc == FCWriteMultipleRegisters):
		rest = 5
	case request && (fc == FCWriteMultipleCoils || fc == FCWriteMultipleRegisters):
		f = f[:7]
		if _, err := io.ReadFull(r, f[3:7]); err != nil {
			return 0, nil, err
		}
		rest = int(f[6]) + 2
	default:
		return 0, nil, bad("RTU function 0x%02x not supported", fc)
	}
	n := len(f)
	f = f[:n+rest]
	if _, err := io.ReadFull(r, f[n:]); err != nil {
		return 0, nil, err
	}
	body := f[:len(f)-2]
	if got, want := binary.LittleEndian.Uint16(f[len(f)-2:]), CRC(body); got != want {
		return 0, nil, bad("RTU CRC 0x%04x, want 0x%04x", got, want)
	}
	return f[0], body[1:], nil
}
