package mqtttest_test

import (
	"fmt"
	"testing"

	"github.com/kiln-iot/kiln/internal/mqtttest"
)

// A test starts its own broker and points its client at URL.
func ExampleStart() {
	t := &testing.T{} // in a test, the test's own t
	_ = t
	fmt.Println(mqtttest.Options{}.TLS)
	// Output: false
}
