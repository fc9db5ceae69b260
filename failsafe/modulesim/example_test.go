package modulesim_test

import (
	"fmt"
	"os"

	"github.com/kiln-iot/kiln/failsafe/modulesim"
)

// Main needs the PLC and the heartbeat tag.
func ExampleMain() {
	code := modulesim.Main(nil, os.Stdout, os.Stdout)
	fmt.Println("exit", code)
	// Output:
	// demo-module: -plc and -heartbeat are required
	// exit 2
}
