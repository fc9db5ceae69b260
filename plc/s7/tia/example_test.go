package tia_test

import (
	"fmt"
	"strings"

	"github.com/kiln-iot/kiln/plc/s7/tia"
)

func ExampleParseDBSource() {
	src := `DATA_BLOCK "Oven"
{ S7_Optimized_Access := 'FALSE' }
   STRUCT
      Running : Bool;        // burner on
      Alarm : Bool;
      Setpoint : Int;
      Batch : String[8];
      Temps : Array[1..2] of Real;
   END_STRUCT;
BEGIN
END_DATA_BLOCK
`
	blocks, err := tia.ParseDBSource("oven.db", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := blocks[0].Tags("oven.db", "oven1", 12)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range res.Tags {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s %s %s", t.Name, t.Address, t.Type, t.Description)))
	}
	fmt.Println("size", blocks[0].Size)
	// Output:
	// Oven.Running DB12.DBX0.0 BOOL burner on
	// Oven.Alarm DB12.DBX0.1 BOOL
	// Oven.Setpoint DB12.DBW2 INT
	// Oven.Batch DB12.DBB4 STRING[8]
	// Oven.Temps[1] DB12.DBD14 REAL
	// Oven.Temps[2] DB12.DBD18 REAL
	// size 22
}
