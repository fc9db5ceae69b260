package modulesim_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/failsafe/modulesim"
	"github.com/kiln-iot/kiln/plc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestModuleBeatsWritesWhileEnabledAndCrashesOnRequest(t *testing.T) {
	list, err := sim.ParseTagList("tags.yaml", []byte(`tags:
  - {name: HB, address: DB10.DBD0, type: DINT, access: rw}
  - {name: EN, address: DB10.DBX4.0, type: BOOL, access: rw}
  - {name: SP, address: DB10.DBD8, type: REAL, access: rw, initial: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sim.New(sim.Config{NoOPCUA: true}, list)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fault := filepath.Join(t.TempDir(), "fault")
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- modulesim.Main([]string{"-plc", p.S7Addr(), "-heartbeat", "DB10.DBD0", "-enable", "DB10.DBX4.0",
			"-setpoint", "DB10.DBD8", "-base", "500", "-amp", "0", "-period", "10ms", "-fault-file", fault}, &out, &errOut)
	}()
	get := func(tag string) float64 {
		v, err := p.Get(tag)
		if err != nil {
			t.Fatal(err)
		}
		return v.Float()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("heartbeats", func() bool { return get("HB") >= 3 })
	if sp := get("SP"); sp != 1 {
		t.Fatalf("setpoint %v written while not enabled", sp)
	}
	if err := p.Set("EN", plc.BoolValue(true)); err != nil {
		t.Fatal(err)
	}
	waitFor("the setpoint written once enabled", func() bool { return get("SP") == 500 })
	if err := os.WriteFile(fault, []byte("crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 3 {
		t.Fatalf("exit %d, want 3 for a simulated crash; stderr %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "simulated crash") {
		t.Errorf("stderr %q", errOut.String())
	}
}
