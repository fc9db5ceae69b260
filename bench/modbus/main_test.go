package main

import (
	"testing"

	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

// TestBothReadTheSetInTheFewestRequests runs a small set through kiln and
// Telegraf's best setting: both read every value, kiln in no more
// requests than the fewest possible.
func TestBothReadTheSetInTheFewestRequests(t *testing.T) {
	set := modbussim.ScatteredRegisters(100, 2, 3)
	fewest := modbus.MinRequests(set, 0, 0)
	k, err := measure(set, 3, 4, 0, 2, func(addr string) (scanner, error) { return openKiln(addr, set, 4) })
	if err != nil {
		t.Fatal(err)
	}
	if k.requests != float64(fewest) {
		t.Errorf("kiln: %v requests a scan, fewest %d", k.requests, fewest)
	}
	tg, err := measure(set, 3, 4, 0, 2, func(addr string) (scanner, error) { return openTelegraf(addr, set, "max_insert") })
	if err != nil {
		t.Fatal(err)
	}
	if tg.requests < k.requests {
		t.Errorf("Telegraf %v requests a scan, kiln %v", tg.requests, k.requests)
	}
}
