package storetest_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/store/storetest"
)

// Samples makes test batches: tags in turn, one second apart per round.
func ExampleSamples() {
	for _, s := range storetest.Samples(4, 2) {
		fmt.Println(s.Tag, s.Value, s.Time.Sub(storetest.T0))
	}
	// Output:
	// tag0 0 0s
	// tag1 1 0s
	// tag0 2 1s
	// tag1 3 1s
}
