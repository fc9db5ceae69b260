package main

import (
	"flag"
	"io"
	"path/filepath"
	"testing"

	"github.com/kiln-iot/kiln/tenant"
)

// The production example under deploy/examples loads with the ingestor's
// own loader (so it never goes stale), and so does its tenant registry.
func TestDeployExampleConfigLoads(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "examples")
	fs := flag.NewFlagSet("cloud-ingestor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	load := flags(fs)
	if err := fs.Parse([]string{"-config", filepath.Join(dir, "ingestor.yaml")}); err != nil {
		t.Fatal(err)
	}
	l, err := load()
	if err != nil {
		t.Fatalf("deploy/examples/ingestor.yaml: %v", err)
	}
	if l.cfg.Store.Postgres.OwnerDSN == "" || l.cfg.Pulsar.TokenFile == "" || l.cfg.HTTP.Listen != ":9464" {
		t.Errorf("the example lost its owner role, token file or listen address: %+v", l.cfg)
	}
	reg, err := tenant.Load(filepath.Join(dir, "tenants.yaml"))
	if err != nil {
		t.Fatalf("deploy/examples/tenants.yaml: %v", err)
	}
	if ids := reg.IDs(); len(ids) != 2 {
		t.Errorf("tenants %v, want acme and globex", ids)
	}
}
