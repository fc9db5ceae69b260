package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// simulators are the packages only the demo plant needs.
var simulators = []string{
	"github.com/kiln-iot/kiln/plc/s7/s7sim",
	"github.com/kiln-iot/kiln/opcua/uasim",
	"github.com/kiln-iot/kiln/plc/modbus/modbussim",
	"github.com/kiln-iot/kiln/examples/plcsim/sim",
	"github.com/gopcua/opcua/server",
}

func deps(t *testing.T, tags string) map[string]bool {
	t.Helper()
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	set := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		set[p] = true
	}
	return set
}

// TestProductionBuildLinksNoSimulator: the nodemo build's dependencies
// hold none of the simulators, which the demo build links.
func TestProductionBuildLinksNoSimulator(t *testing.T) {
	demo, prod := deps(t, ""), deps(t, "nodemo")
	for _, p := range simulators {
		if !demo[p] {
			t.Errorf("the demo build does not link %s", p)
		}
		if prod[p] {
			t.Errorf("the production build (-tags nodemo) links %s", p)
		}
	}
	for _, p := range []string{"github.com/kiln-iot/kiln/plc/s7", "github.com/kiln-iot/kiln/opcua", "github.com/kiln-iot/kiln/plc/modbus"} {
		if !prod[p] {
			t.Errorf("the production build lacks the driver %s", p)
		}
	}
}

// TestProductionBinaryRefusesDemo: the nodemo binary, run as the demo is
// (no flags), stops at once saying it has no demo plant.
func TestProductionBinaryRefusesDemo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "edge-gateway")
	if out, err := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nodemo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "this build has no demo plant") {
		t.Fatalf("output does not say why:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "kiln-data", "spool")); err == nil {
		t.Fatal("the refused demo created its spool")
	}
}
