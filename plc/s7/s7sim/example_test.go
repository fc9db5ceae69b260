package s7sim_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func ExampleNew() {
	srv, err := s7sim.New(s7sim.Config{MaxPDU: 240, DBs: map[int]int{1: 100, 2: 50}},
		s7sim.WithOnWrite(func(e s7sim.WriteEvent) {
			fmt.Printf("client wrote %d bytes at %v%d offset %d\n", e.Length, e.Area, e.DB, e.Offset)
		}))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	_ = srv.Set("DB1.DBW2:INT", plc.IntValue(plc.Int, -7))
	v, _ := srv.Get("DB1.DBW2:INT")
	raw, _ := srv.ReadBytes(s7.AreaDB, 1, 2, 2)
	fmt.Println(v, raw, srv.DBs())
	// Output:
	// -7 [255 249] [1 2]
}

func ExampleServer_Stop() {
	srv, _ := s7sim.New(s7sim.Config{})
	defer srv.Close()
	addr := srv.Addr()
	_ = srv.Stop() // the PLC is switched off: connections drop
	_ = srv.Start()
	fmt.Println(srv.Addr() == addr)
	// Output:
	// true
}
