package s7_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func ExampleParseAddress() {
	for _, s := range []string{"DB1.DBX0.3", "%DB1.DBW10:INT", "MD4", "E0.1", "DB5.DBB0[20]"} {
		a, err := s7.ParseAddress(s, plc.DataType{})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(a)
	}
	_, err := s7.ParseAddress("DB1.DBW4", plc.TypeReal)
	fmt.Println(err)
	// Output:
	// DB1.DBX0.3:BOOL
	// DB1.DBW10:INT
	// MD4:DWORD
	// I0.1:BOOL
	// DB5.DBB0:STRING[20]
	// s7: bad address "DB1.DBW4" at position 6: type REAL does not fit a word (W) address
}

func ExampleNew() {
	plcSim, err := s7sim.New(s7sim.Config{DBs: map[int]int{1: 64}})
	if err != nil {
		panic(err)
	}
	defer plcSim.Close()
	_ = plcSim.Set("DB1.DBD0:REAL", plc.FloatValue(plc.Real, 21.5))

	drv, err := s7.New(s7.Config{Endpoint: plcSim.Addr()})
	if err != nil {
		panic(err)
	}
	defer drv.Close()
	tags := []plc.Tag{
		{Name: "temp", Address: "DB1.DBD0", Type: plc.TypeReal},
		{Name: "run", Address: "DB1.DBX4.0", Type: plc.TypeBool, Access: plc.ReadWrite},
	}
	errs := drv.Write(context.Background(), []plc.WriteItem{{Tag: tags[1], Value: plc.BoolValue(true)}})
	fmt.Println("write:", errs[0])

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
	// write: <nil>
	// temp 21.5 good
	// run true good
}

func ExampleItemError() {
	plcSim, _ := s7sim.New(s7sim.Config{DBs: map[int]int{1: 64}})
	defer plcSim.Close()
	drv, _ := s7.New(s7.Config{Endpoint: plcSim.Addr()})
	defer drv.Close()
	errs := drv.Write(context.Background(), []plc.WriteItem{
		{Tag: plc.Tag{Name: "x", Address: "DB2.DBW0", Type: plc.TypeInt}, Value: plc.IntValue(plc.Int, 1)},
	})
	var ie *s7.ItemError
	fmt.Println(errors.As(errs[0], &ie), ie.Code == s7.CodeObjectDoesNotExist, errors.Is(errs[0], s7.CodeObjectDoesNotExist))
	fmt.Println(errs[0])
	// Output:
	// true true true
	// s7: DB2.DBW0: PLC answered item error 0x0a (object does not exist)
}
