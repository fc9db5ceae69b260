package forward_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// A gateway spools sample batches and a forwarder drains them into a
// destination; here the destination is a second spool (the embedded
// transport) standing in for a broker.
func Example() {
	dir, _ := os.MkdirTemp("", "forward")
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	edge, err := spool.Open(spool.Config{Dir: filepath.Join(dir, "edge")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer edge.Close()
	cloud, err := spool.Open(spool.Config{Dir: filepath.Join(dir, "cloud")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cloud.Close()
	uplink := spool.NewPublisher(cloud)
	defer uplink.Close()

	f, err := forward.New(edge, uplink, forward.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx) }()

	// the gateway side: encode a batch and spool it
	gateway := spool.NewPublisher(edge)
	defer gateway.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		b := wire.Batch{Source: "gw-1", Tenant: "acme", Seq: seq, Samples: []plc.Sample{
			{Tag: "oven3.temp", Value: plc.FloatValue(plc.Real, 200+float64(seq)), Quality: plc.Good},
		}}
		if err := gateway.Publish(ctx, []transport.Message{wire.ToMessage(&b, nil)}, func(int, error) {}); err != nil {
			fmt.Println(err)
			return
		}
	}

	// the cloud side
	sub, err := spool.NewSubscriber(cloud)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	for range 3 {
		d, err := sub.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		var b wire.Batch
		if err := wire.FromMessage(d.Message(), &b); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(b.Source, b.Seq, b.Samples[0].Tag, b.Samples[0].Value)
		d.Ack()
	}
	cancel()
	fmt.Println("serve:", <-served)
	// Output:
	// gw-1 1 oven3.temp 201
	// gw-1 2 oven3.temp 202
	// gw-1 3 oven3.temp 203
	// serve: <nil>
}
