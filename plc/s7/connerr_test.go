package s7_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

var _ plc.ConnectionReporter = (*s7.Driver)(nil)

// waitConnErr polls d.ConnectionError until ok accepts it.
func waitConnErr(t *testing.T, d *s7.Driver, what string, ok func(error) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(d.ConnectionError()) {
		if time.Now().After(deadline) {
			t.Fatalf("ConnectionError = %v, want %s", d.ConnectionError(), what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnectionErrorNamesTheCause: while the PLC cannot be reached the
// driver says why (the port refuses, the PLC refuses rack and slot), and
// once connected it says nothing.
func TestConnectionErrorNamesTheCause(t *testing.T) {
	srv := startSim(t, s7sim.Config{Slot: 2})
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := fastCfg()
	cfg.Slot = 2
	d := open(t, srv.Addr(), cfg)
	waitConnErr(t, d, "connection refused", func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) })

	wrong := fastCfg()
	wrong.Slot = 3
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	d2 := open(t, srv.Addr(), wrong)
	waitConnErr(t, d2, "rack and slot refused", func(err error) bool { return errors.Is(err, s7.ErrRefused) })

	waitConnErr(t, d, "none once connected", func(err error) bool { return err == nil })
	if out := read(t, d, tag("x", "MW0", "INT")); !out[0].Quality.IsGood() {
		t.Fatalf("read: %v", out[0].Quality)
	}
}
