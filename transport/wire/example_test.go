package wire_test

import (
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/wire"
)

func Example() {
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	out := wire.Batch{Source: "gw-hamburg-01", Tenant: "acme", Seq: 42, Samples: []plc.Sample{
		{Tag: "oven3.temp", Value: plc.FloatValue(plc.Real, 231.5), Quality: plc.Good, Time: at},
		{Tag: "oven3.count", Value: plc.IntValue(plc.LInt, 1<<62), Quality: plc.Good, Time: at},
		{Tag: "oven3.door", Quality: plc.Bad(plc.ReasonCommFailure, "timeout"), Time: at},
	}}
	msg := wire.ToMessage(&out, nil)
	fmt.Println(msg.Key, msg.Properties[wire.PropContentType])

	var in wire.Batch
	if err := wire.FromMessage(msg, &in); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(in.Source, in.Tenant, in.Seq)
	for _, s := range in.Samples {
		fmt.Println(s.Tag, s.Value.Kind(), s.Value, s.Quality)
	}
	// Output:
	// gw-hamburg-01 application/x-kiln-batch+protobuf; v=1
	// gw-hamburg-01 acme 42
	// oven3.temp REAL 231.5 good
	// oven3.count LINT 4611686018427387904 good
	// oven3.door INVALID <none> bad (comm failure: timeout)
}
