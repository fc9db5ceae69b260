package main

import (
	"flag"
	"strconv"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
)

// Flags of driver modbus.
var (
	mbMode      *string
	mbUnit      *int
	mbOrder     *string
	mbZeroBased *bool
)

func init() {
	drivers["modbus"] = DriverSpec{
		Flags: func(fs *flag.FlagSet) {
			mbMode = fs.String("mode", "tcp", "modbus: tcp, rtu (the endpoint is a serial device) or rtuovertcp")
			mbUnit = fs.Int("unit", 1, "modbus: unit id of addresses without unit!")
			mbOrder = fs.String("byte-order", "ABCD", "modbus: byte order of values without their own: ABCD, CDAB, BADC or DCBA")
			mbZeroBased = fs.Bool("zero-based", false, "modbus: register numbers are protocol addresses (HR0 is the first)")
		},
		Device: func(endpoint string) (plc.Device, error) {
			opts := map[string]string{
				"mode":       *mbMode,
				"unit":       strconv.Itoa(*mbUnit),
				"byte_order": *mbOrder,
				"zero_based": strconv.FormatBool(*mbZeroBased),
			}
			dev := plc.Device{Name: endpoint, Driver: "modbus", Endpoint: endpoint, Options: opts}
			if _, err := modbus.ConfigFromDevice(dev); err != nil {
				return plc.Device{}, err
			}
			return dev, nil
		},
		Resolve: func(_ plc.Device, arg string) (string, plc.DataType, error) {
			a, err := modbus.ParseAddress(arg, plc.DataType{}, modbus.AddressDefaults{Unit: 1, ZeroBased: *mbZeroBased})
			if err != nil {
				return "", plc.DataType{}, err
			}
			return arg, a.Type, nil
		},
	}
}
