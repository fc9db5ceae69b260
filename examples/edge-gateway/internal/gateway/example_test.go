package gateway_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
)

// The embedded demo, as `go run ./examples/edge-gateway` starts it, on a
// free port and in a temporary directory.
func Example() {
	dir, err := os.MkdirTemp("", "kiln-gw-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := gateway.New(ctx, config.Config{DataDir: dir, HTTP: config.HTTP{Listen: "127.0.0.1:0"}}, gateway.WithPlant(demo.Plant))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	fmt.Println(len(g.PointDB().Tags), "tags, demo plant:", g.Plant() != nil)
	cancel() // SIGTERM in the command
	fmt.Println("stopped:", <-done)
	// Output:
	// 19 tags, demo plant: true
	// stopped: <nil>
}
