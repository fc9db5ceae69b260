package opcua_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

// Reading and writing tags through the plc.Driver adapter.
func Example() {
	sim, _ := uasim.New(uasim.Config{}, []plc.Tag{{Name: "Line1.Speed", Type: plc.TypeInt, Access: plc.ReadWrite}})
	sim.Start(context.Background())
	defer sim.Stop()

	c, err := opcua.New(opcua.Config{Endpoint: sim.Endpoint()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.WaitConnected(ctx)

	drv := opcua.NewDriver(c)
	speed := plc.Tag{Name: "speed", Address: "ns=2;s=Line1.Speed", Type: plc.TypeInt, Access: plc.ReadWrite}
	errs := drv.Write(ctx, []plc.WriteItem{{Tag: speed, Value: plc.IntValue(plc.Int, 1450)}})
	fmt.Println("write:", errs[0])

	r, _ := drv.Prepare([]plc.Tag{speed})
	out := make([]plc.Sample, 1)
	r.Read(ctx, out)
	fmt.Println(out[0].Tag, out[0].Value, out[0].Quality)
	// Output:
	// write: <nil>
	// speed 1450 good
}

// A subscription feeds changes into a plc.Sink; after a connection loss
// the tags read Bad/comm failure until the subscription is back.
func ExampleClient_Subscribe() {
	sim, _ := uasim.New(uasim.Config{}, []plc.Tag{{Name: "Kiln.Temp", Type: plc.TypeLReal}})
	sim.Start(context.Background())
	defer sim.Stop()
	c, _ := opcua.New(opcua.Config{Endpoint: sim.Endpoint()})
	defer c.Close()

	got := make(chan plc.Sample, 16)
	sink := plc.SinkFunc(func(_ context.Context, ss []plc.Sample) error {
		for _, s := range ss {
			if s.Quality.IsGood() {
				got <- s
			}
		}
		return nil
	})
	tag := plc.Tag{Name: "temp", Address: "/2:Kiln/Temp", Type: plc.TypeLReal}
	sub, err := c.Subscribe(context.Background(), opcua.SubscriptionConfig{PublishingInterval: 50 * time.Millisecond}, []opcua.Item{{Tag: tag}}, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer sub.Close()
	fmt.Println((<-got).Value) // the initial value
	sim.Set("Kiln.Temp", plc.FloatValue(plc.LReal, 1180.5))
	fmt.Println((<-got).Value)
	// Output:
	// 0
	// 1180.5
}

func ExampleParseAddress() {
	for _, s := range []string{"ns=2;s=Line1.Temp", "ns=3;i=1001", "/2:Line1/Kiln/Temp", "Line1.Temp"} {
		a, err := opcua.ParseAddress(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(a)
	}
	// Output:
	// ns=2;s=Line1.Temp
	// ns=3;i=1001
	// /2:Line1/2:Kiln/2:Temp
	// opcua: bad address "Line1.Temp" at byte 0: want i=<number>, s=<name>, g=<guid> or b=<base64> (or a /browse/path)
}

func ExampleClient_Browse() {
	sim, _ := uasim.New(uasim.Config{}, []plc.Tag{
		{Name: "Line1.Kiln.Temp", Type: plc.TypeLReal},
		{Name: "Line1.Count", Type: plc.TypeDInt},
	})
	sim.Start(context.Background())
	defer sim.Stop()
	c, _ := opcua.New(opcua.Config{Endpoint: sim.Endpoint()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	root, _ := opcua.ParseAddress("ns=2;s=Line1")
	nodes, err := c.Browse(ctx, root.NodeID, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range nodes {
		fmt.Printf("%d %s %s %s %q\n", n.Depth, n.NodeID, n.BrowseName, n.Class, n.Type)
	}
	// Output:
	// 1 ns=2;s=Line1.Count 2:Count Variable "DINT"
	// 1 ns=2;s=Line1.Kiln 2:Kiln Object ""
	// 2 ns=2;s=Line1.Kiln.Temp 2:Temp Variable "LREAL"
}
