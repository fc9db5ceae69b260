package clock_test

import (
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/clock"
)

func ExampleFake() {
	f := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t := f.NewTimer(time.Second)
	f.Advance(time.Second)
	fmt.Println((<-t.C()).Format(time.TimeOnly))
	// Output: 00:00:01
}
