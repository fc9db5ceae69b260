package main

import (
	"path/filepath"
	"testing"

	kconfig "github.com/kiln-iot/kiln/config"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/plc"
)

// The plant example under deploy/examples loads with the gateway's own
// loader, and its point database (S7 and OPC UA devices) with plc.Load,
// so neither goes stale.
func TestDeployExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "deploy", "examples", "gateway.yaml"))
	if err != nil {
		t.Fatalf("deploy/examples/gateway.yaml: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("deploy/examples/gateway.yaml: %v", err)
	}
	db, err := plc.Load(cfg.TagFiles...)
	if err != nil {
		for _, e := range kconfig.List(err) {
			t.Error(e)
		}
		t.Fatal(err)
	}
	drivers := map[string]bool{}
	for _, d := range db.Devices {
		drivers[d.Driver] = true
	}
	if !drivers["s7"] || !drivers["opcua"] || len(db.Tags) == 0 {
		t.Errorf("the example lost its S7 or OPC UA device: %+v", db.Devices)
	}
}
