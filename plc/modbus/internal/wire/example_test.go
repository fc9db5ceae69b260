package wire_test

import (
	"bytes"
	"fmt"

	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

func Example() {
	req := wire.ReadRequest(wire.FCReadHoldingRegisters, 0, 2)
	fmt.Printf("TCP % x\n", wire.MBAP(7, 1, req))
	fmt.Printf("RTU % x\n", wire.RTU(1, req))
	// An answer: two registers, 0x0001 and 0x0002.
	_, _, pdu, _ := wire.ReadMBAP(bytes.NewReader(wire.MBAP(7, 1, []byte{0x03, 4, 0, 1, 0, 2})))
	data, err := wire.ParseRead(wire.FCReadHoldingRegisters, 2, pdu)
	fmt.Printf("% x %v\n", data, err)
	// Output:
	// TCP 00 07 00 00 00 06 01 03 00 00 00 02
	// RTU 01 03 00 00 00 02 c4 0b
	// 00 01 00 02 <nil>
}
