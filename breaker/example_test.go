package breaker_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/kiln-iot/kiln/breaker"
)

// A breaker that opens after two failures.
func Example() {
	cfg := breaker.Config{Failures: 2, OpenFor: time.Minute}
	cb := gobreaker.NewCircuitBreaker[struct{}](cfg.Settings("uplink"))
	fail := func() (struct{}, error) { return struct{}{}, errors.New("link down") }
	for range 3 {
		_, err := cb.Execute(fail)
		fmt.Println(err)
	}
	// Output:
	// link down
	// link down
	// circuit breaker is open
}

// Validate names the bad field by its YAML key.
func ExampleConfig_Validate() {
	fmt.Println(breaker.Config{Failures: -1, OpenFor: -time.Second}.Validate())
	// Output:
	// failures: -1 is negative
	// open_for: -1s is negative
}
