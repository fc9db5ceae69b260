package consoletest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/plc"
)

// A write through the plant's Backend is checked by the plc.Writer,
// reaches the simulated PLC's memory and is read back.
func Example() {
	ctx := context.Background()
	plant, err := consoletest.Start(ctx, consoletest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer plant.Close()

	as := console.WithUser(ctx, console.User{Name: "emma", Role: auth.Engineer, Channel: "console"})
	rb, err := plant.Backend.Write(as, "Line1.Kiln.Zone1.Setpoint", []byte(`870`))
	fmt.Println("read back:", rb, err)
	v, _ := plant.Get("Line1.Kiln.Zone1.Setpoint")
	fmt.Println("PLC memory:", v)

	_, err = plant.Backend.Write(as, "Line1.Kiln.Zone1.Setpoint", []byte(`9999`))
	fmt.Println(err)

	// The poller sees what the process sets.
	_ = plant.Set("Line1.Kiln.Zone1.Temp", plc.FloatValue(plc.Real, 812.5))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ss, _ := plant.Backend.Latest(ctx, []string{"Line1.Kiln.Zone1.Temp"}); ss[0].Value.Float() == 812.5 {
			fmt.Println("latest:", ss[0].Value, ss[0].Quality)
			break
		}
	}
	// Output:
	// read back: 870 <nil>
	// PLC memory: 870
	// plc: write "Line1.Kiln.Zone1.Setpoint": 9999 is above the maximum 1200
	// latest: 812.5 good
}
