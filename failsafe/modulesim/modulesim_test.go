package modulesim_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/failsafe/modulesim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestModuleBeatsWritesWhileEnabledAndCrashesOnRequest(t *testing.T) {
	p, err := s7sim.New(s7sim.Config{}) // the PLC
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := func(s string, typ plc.DataType) s7.Address {
		a, err := s7.ParseAddress(s, typ)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tags := map[string]s7.Address{
		"HB": addr("DB10.DBD0", plc.TypeDInt),
		"EN": addr("DB10.DBX4.0", plc.TypeBool),
		"SP": addr("DB10.DBD8", plc.TypeReal),
	}
	if err := p.Store(tags["SP"], plc.FloatValue(plc.Real, 1)); err != nil {
		t.Fatal(err)
	}
	fault := filepath.Join(t.TempDir(), "fault")
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- modulesim.Main([]string{"-plc", p.Addr(), "-heartbeat", "DB10.DBD0", "-enable", "DB10.DBX4.0",
			"-setpoint", "DB10.DBD8", "-base", "500", "-amp", "0", "-period", "10ms", "-fault-file", fault}, &out, &errOut)
	}()
	get := func(tag string) float64 {
		v, err := p.Load(tags[tag])
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
	if err := p.Store(tags["EN"], plc.BoolValue(true)); err != nil {
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
