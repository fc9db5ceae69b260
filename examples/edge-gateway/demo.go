//go:build !nodemo

package main

import (
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
)

// withDemo gives the gateway the simulated kiln line, which it runs when
// the configuration asks for the demo (by default when no devices are
// configured). Build with -tags nodemo for a binary without it.
func withDemo() []gateway.Option { return []gateway.Option{gateway.WithPlant(demo.Plant)} }
