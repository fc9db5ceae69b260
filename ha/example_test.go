package ha_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// A node that does not hold the lease cannot write: the fenced driver
// refuses before anything reaches the PLC.
func ExampleElector_Fence() {
	srv, err := s7sim.New(s7sim.Config{Addr: "127.0.0.1:0", DBs: map[int]int{1: 16, 100: 16}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	drv, err := s7.New(s7.Config{Endpoint: srv.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drv.Close()
	el, err := ha.New(ha.Config{NodeID: 2, Lease: ha.LeaseConfig{Device: "plc1", Holder: "DB100.DBD0", Epoch: "DB100.DBD4", Counter: "DB100.DBD8"}}, drv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fenced := el.Fence(drv)
	tag := plc.Tag{Name: "Setpoint", Device: "plc1", Address: "DB1.DBW0", Type: plc.TypeInt, Access: plc.ReadWrite}
	err = fenced.Write(context.Background(), []plc.WriteItem{{Tag: tag, Value: plc.IntValue(plc.Int, 900)}})[0]
	fmt.Println(el.Role(), errors.Is(err, ha.ErrFenced))
	addr, _ := s7.ParseAddress("DB1.DBW0", plc.TypeInt)
	v, _ := srv.Load(addr)
	fmt.Println("PLC holds", v)
	// Output:
	// standby true
	// PLC holds 0
}
