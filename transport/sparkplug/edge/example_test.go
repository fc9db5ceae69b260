package edge_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
)

// A node is made from its settings and the devices whose tags become its
// metrics; Serve connects it and Publish takes the spool's batches.
func ExampleNew() {
	node, err := edge.New(edge.Config{Servers: []string{"tcp://127.0.0.1:1883"}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln"},
		[]edge.Device{{ID: "plc1", Tags: []plc.Tag{{Name: "Kiln.Temp", Type: plc.TypeReal}}}})
	fmt.Println(err, node.Online(), node.BdSeq())
	_, err = edge.New(edge.Config{GroupID: "a/b", NodeID: "gw1"}, nil)
	fmt.Println(err)
	// Output:
	// <nil> false 0
	// servers: is required: at least one broker such as tcp://127.0.0.1:1883
	// group_id: group id contains one of / + # or NUL
}
