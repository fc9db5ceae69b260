package host_test

import (
	"context"
	"fmt"

	"github.com/kiln-iot/kiln/transport/sparkplug/host"
)

// A host's settings are checked before it connects; every problem is
// named by its YAML path.
func ExampleNew() {
	_, err := host.New(host.Config{Servers: []string{"broker:1883"}, Groups: map[string]string{"acme": ""}},
		func(context.Context, host.Delivery) error { return nil })
	fmt.Println(err)
	// Output:
	// servers[0]: "broker:1883" is not a broker address such as tcp://host:1883 or ssl://host:8883
	// host_id: host id is empty
	// groups.acme: names no tenant
}
