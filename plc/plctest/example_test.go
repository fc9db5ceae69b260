package plctest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

func Example() {
	drv := plctest.New()
	tags := []plc.Tag{
		{Name: "Temp", Address: "DB1.DBW4", Type: plc.TypeInt},
		{Name: "Level", Address: "DB1.DBW6", Type: plc.TypeInt},
	}
	r, err := drv.Prepare(tags)
	if err != nil {
		fmt.Println(err)
		return
	}
	drv.Set("DB1.DBW4", plc.IntValue(plc.Int, 850))
	drv.SetQuality("DB1.DBW6", plc.Bad(plc.ReasonDeviceError, "object does not exist"))

	out := make([]plc.Sample, len(tags))
	_ = r.Read(context.Background(), out)
	for _, s := range out {
		fmt.Println(s.Tag, s.Value, s.Quality)
	}

	drv.Fail(errors.New("cable pulled"))
	_ = r.Read(context.Background(), out)
	fmt.Println(out[0].Tag, out[0].Quality, "after", drv.Reads(), "reads")
	// Output:
	// Temp 850 good
	// Level <none> bad (device error: object does not exist)
	// Temp bad (comm failure: device unreachable) after 2 reads
}

func ExampleRegister() {
	plctest.Register()
	drv, err := plc.Open(plc.Device{Name: "kiln1", Driver: plctest.DriverName}, plc.OpenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	plctest.Shared("kiln1").Set("MW0", plc.IntValue(plc.Int, 7))
	r, _ := drv.Prepare([]plc.Tag{{Name: "m", Address: "MW0", Type: plc.TypeInt}})
	out := make([]plc.Sample, 1)
	_ = r.Read(context.Background(), out)
	fmt.Println(out[0].Value)
	// Output:
	// 7
}
