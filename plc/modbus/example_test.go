package modbus_test

import (
	"context"
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func ExampleParseAddress() {
	for _, s := range []string{"40001", "3!HR100:REAL:CDAB", "hr7.3", "IR10:STRING[8]"} {
		a, err := modbus.ParseAddress(s, plc.DataType{}, modbus.AddressDefaults{Unit: 1})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-18s unit %d %s register %d, %d register(s): %s\n", s, a.Unit, a.Table, a.Register, a.Registers(), a)
	}
	_, err := modbus.ParseAddress("HR100:REAL:CDBA", plc.DataType{}, modbus.AddressDefaults{Unit: 1})
	fmt.Println(err)
	// Output:
	// 40001              unit 1 HR register 0, 1 register(s): 1!HR1:UINT:ABCD
	// 3!HR100:REAL:CDAB  unit 3 HR register 99, 2 register(s): 3!HR100:REAL:CDAB
	// hr7.3              unit 1 HR register 6, 1 register(s): 1!HR7.3:BOOL
	// IR10:STRING[8]     unit 1 IR register 9, 4 register(s): 1!IR10:STRING[8]:ABCD
	// modbus: bad address "HR100:REAL:CDBA" at position 11: "CDBA" is not a byte order (ABCD, CDAB, BADC, DCBA)
}

func ExampleNew() {
	srv, err := modbussim.New(modbussim.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	_ = srv.Set("HR100:REAL:CDAB", plc.FloatValue(plc.Real, 21.5))
	_ = srv.Set("CO1", plc.BoolValue(true))

	drv, err := modbus.New(modbus.Config{Endpoint: srv.Addr(), ByteOrder: "CDAB"})
	if err != nil {
		panic(err)
	}
	defer drv.Close()
	tags := []plc.Tag{
		{Name: "temp", Address: "HR100", Type: plc.TypeReal},
		{Name: "run", Address: "CO1", Type: plc.TypeBool},
	}
	r, err := drv.Prepare(tags)
	if err != nil {
		panic(err)
	}
	samples := make([]plc.Sample, len(tags))
	if err := r.Read(context.Background(), samples); err != nil {
		panic(err)
	}
	for _, s := range samples {
		fmt.Println(s.Tag, s.Value, s.Quality)
	}
	// Output:
	// temp 21.5 good
	// run true good
}
