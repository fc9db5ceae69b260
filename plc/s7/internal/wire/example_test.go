package wire_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// A planner checks both directions of a Read Var against the negotiated
// PDU: the request grows with the items, the answer with their data.
func ExampleReadResponseSize() {
	const pdu = 240
	fmt.Println("request of 3 items:", wire.ReadRequestSize(3))
	fmt.Println("answer with 2, 5 and 100 bytes:", wire.ReadResponseSize(2, 5, 100))
	fmt.Println("fits:", wire.ReadRequestSize(3) <= pdu && wire.ReadResponseSize(2, 5, 100) <= pdu)
	// Output:
	// request of 3 items: 48
	// answer with 2, 5 and 100 bytes: 134
	// fits: true
}
