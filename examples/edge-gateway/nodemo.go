//go:build nodemo

package main

import "github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"

// withDemo gives nothing: this build links no simulator, and a
// configuration that asks for the demo is refused (gateway.ErrNoDemo).
func withDemo() []gateway.Option { return nil }
