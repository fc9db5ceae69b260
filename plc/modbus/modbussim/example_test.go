package modbussim_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func Example() {
	srv, err := modbussim.New(modbussim.Config{Units: []uint8{1, 2}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	_ = srv.Set("2!HR10:REAL:CDAB", plc.FloatValue(plc.Real, 21.5))
	regs, _ := srv.Registers(2, modbus.HoldingRegisters, 9, 2)
	fmt.Printf("%04x\n", regs)
	// Requests covering register 5 of unit 1 are answered "device busy".
	srv.SetFault(1, modbus.HoldingRegisters, 5, modbussim.Fault{Exception: modbussim.DeviceBusy})
	v, _ := srv.Get("2!HR10:REAL:CDAB")
	fmt.Println(v)
	// Output:
	// [0000 41ac]
	// 21.5
}
