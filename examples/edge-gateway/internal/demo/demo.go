// Package demo is the edge gateway's demo plant: the simulated kiln line
// of examples/plcsim/sim (an S7 PLC and an OPC UA server, in-process),
// which `go run ./examples/edge-gateway` reads when nothing else is
// configured.
//
// It is its own package so that only the demo build links the
// simulators: the command imports it from a file built without the
// nodemo build tag, and `go build -tags nodemo ./examples/edge-gateway`
// is the production binary, without gopcua's server or s7sim.
//
//	g, err := gateway.New(ctx, cfg, gateway.WithPlant(demo.Plant))
package demo

import (
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

// Plant starts the simulated kiln line, logging through log.
func Plant(log *zap.Logger) (gateway.Plant, error) {
	p, err := sim.New(sim.Config{}, sim.KilnLine(), sim.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return p, nil
}
