package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// Reading two tags of a simulated PLC; the timestamps are cut for the
// example's sake.
func Example_read() {
	srv, _ := s7sim.New(s7sim.Config{DBs: map[int]int{1: 16}})
	defer srv.Close()
	_ = srv.Set("DB1.DBD0:REAL", plc.FloatValue(plc.Real, 21.5))
	var out bytes.Buffer
	code := run(context.Background(), []string{"-driver", "s7", "-endpoint", srv.Addr(), "read", "DB1.DBD0:REAL", "DB1.DBX4.0"}, &out, os.Stderr)
	fmt.Print(regexp.MustCompile(`"ts":"[^"]*"`).ReplaceAllString(out.String(), `"ts":"…"`))
	fmt.Println("exit", code)
	// Output:
	// {"tag":"DB1.DBD0:REAL","value":21.5,"quality":"good","error":null,"ts":"…"}
	// {"tag":"DB1.DBX4.0","value":false,"quality":"good","error":null,"ts":"…"}
	// exit 0
}
