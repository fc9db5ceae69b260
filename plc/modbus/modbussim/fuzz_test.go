package modbussim

import (
	"testing"

	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// FuzzHandle gives the request handler arbitrary PDUs, as a client on
// the network could: it answers data or an exception, never panics.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(wire.ReadRequest(wire.FCReadHoldingRegisters, 0, 10)))
	f.Add([]byte(wire.WriteMultiple(wire.FCWriteMultipleRegisters, 65530, 2, []byte{1, 2, 3, 4})))
	f.Add([]byte(wire.WriteMultiple(wire.FCWriteMultipleCoils, 0, 9, []byte{0xFF, 1})))
	f.Add([]byte(wire.WriteSingle(wire.FCWriteSingleCoil, 3, 0xFF00)))
	f.Add([]byte{0x2B, 0x0E, 1, 0})
	s := newForFuzz(f)
	stop := make(chan struct{})
	f.Fuzz(func(t *testing.T, pdu []byte) {
		if len(pdu) == 0 {
			return
		}
		resp, ok := s.handle(1, pdu, stop, true)
		if ok && (len(resp) < 2 || resp[0]&0x7F != pdu[0]&0x7F) {
			t.Fatalf("% x answered % x", pdu, resp)
		}
	})
}

func newForFuzz(f *testing.F) *Server {
	s, err := New(Config{Size: 1000})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	return s
}
