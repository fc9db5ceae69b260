package main

import (
	"flag"
	"strconv"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
)

// Flags of driver s7.
var (
	s7Rack     *int
	s7Slot     *int
	s7ConnType *string
	s7PDU      *int
	s7Local    *string
	s7Remote   *string
)

func init() {
	drivers["s7"] = DriverSpec{
		Flags: func(fs *flag.FlagSet) {
			s7Rack = fs.Int("rack", 0, "s7: rack of the CPU")
			s7Slot = fs.Int("slot", 1, "s7: slot of the CPU")
			s7ConnType = fs.String("conn-type", "pg", "s7: connection type pg, op or basic")
			s7PDU = fs.Int("pdu", 0, "s7: PDU size to propose (0: 960; the CPU may grant less)")
			s7Local = fs.String("local-tsap", "", "s7: local TSAP, e.g. 01.00 (default 0x0100)")
			s7Remote = fs.String("remote-tsap", "", "s7: remote TSAP, e.g. 03.01; overrides -rack, -slot and -conn-type")
		},
		Device: func(endpoint string) (plc.Device, error) {
			opts := map[string]string{
				"rack":            strconv.Itoa(*s7Rack),
				"slot":            strconv.Itoa(*s7Slot),
				"connection_type": *s7ConnType,
				"pdu_size":        strconv.Itoa(*s7PDU),
			}
			if *s7Local != "" {
				opts["local_tsap"] = *s7Local
			}
			if *s7Remote != "" {
				opts["remote_tsap"] = *s7Remote
			}
			dev := plc.Device{Name: endpoint, Driver: "s7", Endpoint: endpoint, Options: opts}
			if _, err := s7.ConfigFromDevice(dev); err != nil {
				return plc.Device{}, err
			}
			return dev, nil
		},
		Resolve: func(_ plc.Device, arg string) (string, plc.DataType, error) {
			a, err := s7.ParseAddress(arg, plc.DataType{})
			if err != nil {
				return "", plc.DataType{}, err
			}
			return arg, a.Type, nil
		},
	}
}
