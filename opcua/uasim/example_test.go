package uasim_test

import (
	"context"
	"fmt"

	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

func Example() {
	tags := []plc.Tag{
		{Name: "Line1.Kiln.Temp", Type: plc.TypeLReal},
		{Name: "Line1.Kiln.Setpoint", Type: plc.TypeLReal, Access: plc.ReadWrite},
	}
	sim, err := uasim.New(uasim.Config{}, tags, uasim.WithOnWrite(func(tag string, v plc.Value) error {
		fmt.Println("client wrote", tag, v)
		return nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sim.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer sim.Stop()
	sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 1180))
	v, _ := sim.Get("Line1.Kiln.Temp")
	fmt.Println(sim.NodeID("Line1.Kiln.Temp"), v)
	// Output:
	// ns=2;s=Line1.Kiln.Temp 1180
}
