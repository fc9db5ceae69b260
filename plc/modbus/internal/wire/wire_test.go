package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestCRC(t *testing.T) {
	// Read 10 holding registers from 0 at unit 1: 01 03 00 00 00 0A C5 CD.
	f := RTU(1, ReadRequest(FCReadHoldingRegisters, 0, 10))
	if want := []byte{1, 3, 0, 0, 0, 10, 0xC5, 0xCD}; !bytes.Equal(f, want) {
		t.Errorf("frame % x, want % x", f, want)
	}
}

func TestFramesRoundTrip(t *testing.T) {
	pdus := [][]byte{
		ReadRequest(FCReadCoils, 7, 20),
		WriteSingle(FCWriteSingleRegister, 3, 0xBEEF),
		WriteMultiple(FCWriteMultipleRegisters, 10, 2, []byte{1, 2, 3, 4}),
		WriteMultiple(FCWriteMultipleCoils, 0, 9, []byte{0xFF, 1}),
	}
	for _, p := range pdus {
		txid, unit, got, err := ReadMBAP(bytes.NewReader(MBAP(42, 9, p)))
		if err != nil || txid != 42 || unit != 9 || !bytes.Equal(got, p) {
			t.Errorf("MBAP % x: %d %d % x %v", p, txid, unit, got, err)
		}
		unit, got, err = ReadRTU(bytes.NewReader(RTU(9, p)), true)
		if err != nil || unit != 9 || !bytes.Equal(got, p) {
			t.Errorf("RTU request % x: %d % x %v", p, unit, got, err)
		}
	}
	answers := [][]byte{{FCReadHoldingRegisters, 4, 0, 1, 0, 2}, {FCReadHoldingRegisters | 0x80, 2}, WriteSingle(FCWriteSingleCoil, 1, 0xFF00), {FCWriteMultipleRegisters, 0, 10, 0, 2}}
	for _, a := range answers {
		unit, got, err := ReadRTU(bytes.NewReader(RTU(3, a)), false)
		if err != nil || unit != 3 || !bytes.Equal(got, a) {
			t.Errorf("RTU answer % x: %d % x %v", a, unit, got, err)
		}
	}
}

func TestParseRead(t *testing.T) {
	if d, err := ParseRead(FCReadHoldingRegisters, 2, []byte{3, 4, 0, 1, 0, 2}); err != nil || !bytes.Equal(d, []byte{0, 1, 0, 2}) {
		t.Errorf("got % x, %v", d, err)
	}
	var ee *ExceptionError
	if _, err := ParseRead(FCReadHoldingRegisters, 2, []byte{0x83, 2}); !errors.As(err, &ee) || ee.Code != 2 {
		t.Errorf("exception: %v", err)
	}
	for _, bad := range [][]byte{{}, {3}, {3, 4, 0, 1}, {4, 4, 0, 1, 0, 2}, {3, 2, 0, 1, 0, 2}} {
		if _, err := ParseRead(FCReadHoldingRegisters, 2, bad); !errors.Is(err, ErrFrame) {
			t.Errorf("% x: %v", bad, err)
		}
	}
}

// FuzzReadFrames feeds arbitrary bytes to the frame readers and the
// answer parsers: they return errors, never panic.
func FuzzReadFrames(f *testing.F) {
	f.Add(MBAP(1, 1, ReadRequest(FCReadHoldingRegisters, 0, 2)))
	f.Add(RTU(1, []byte{FCReadHoldingRegisters, 4, 0, 1, 0, 2}))
	f.Add(RTU(1, WriteMultiple(FCWriteMultipleCoils, 0, 9, []byte{0xFF, 1})))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, pdu, err := ReadMBAP(bytes.NewReader(b)); err == nil {
			_, _ = ParseRead(FCReadCoils, 9, pdu)
			_ = ParseWrite(WriteSingle(FCWriteSingleRegister, 1, 2), pdu)
		} else if !errors.Is(err, ErrFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadMBAP: %v", err)
		}
		for _, req := range []bool{true, false} {
			if _, pdu, err := ReadRTU(bytes.NewReader(b), req); err == nil {
				_, _ = ParseRead(FCReadInputRegisters, 1, pdu)
			} else if !errors.Is(err, ErrFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ReadRTU: %v", err)
			}
		}
	})
}
