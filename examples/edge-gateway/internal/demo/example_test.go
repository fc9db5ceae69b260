package demo_test

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
)

// The demo plant's point database, as the gateway reads it.
func ExamplePlant() {
	p, err := demo.Plant(zap.NewNop())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	db, err := p.PointDB()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(db.Devices), "devices,", len(db.Tags), "tags")
	// Output:
	// 2 devices, 19 tags
}
