package backoff_test

import (
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/backoff"
)

func ExampleDelay() {
	cfg := backoff.Config{Initial: time.Second, Max: 10 * time.Second, Jitter: -1}
	for n := range 5 {
		fmt.Println(backoff.Delay(cfg, n, 0))
	}
	// Output:
	// 1s
	// 2s
	// 4s
	// 8s
	// 10s
}
