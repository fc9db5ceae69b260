package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGatewayConfigDevice(t *testing.T) {
	srv := startSim(t)
	_ = srv.Set("MW4:INT", plc.IntValue(plc.Int, 77))
	dir := t.TempDir()
	gw := writeFile(t, dir, "gateway.yaml", fmt.Sprintf(`devices:
  - name: plc1
    driver: s7
    endpoint: %s
    options: {rack: 0, slot: 1, retry.max: 1s}
  - name: wincc
    driver: opcua
    endpoint: opc.tcp://127.0.0.1:1
`, srv.Addr()))
	code, lines, stderr := tagctl(t, "-config", gw, "-device", "plc1", "read", "MW4:INT", "DB9.DBW0")
	if code != 1 || len(lines) != 2 {
		t.Fatalf("exit %d, %v, %s", code, lines, stderr)
	}
	if lines[0]["quality"] != "good" || fmtJSON(lines[0]["value"]) != "77" || lines[1]["quality"] != "bad" {
		t.Errorf("lines %v", lines)
	}
	// The device must be named when the gateway has several, and be one
	// of them; -config goes with neither -driver nor -tags.
	for _, args := range [][]string{
		{"-config", gw, "read", "MW4"},
		{"-config", gw, "-device", "plc9", "read", "MW4"},
		{"-config", gw, "-device", "plc1", "-driver", "s7", "read", "MW4"},
		{"-config", gw, "-tags", gw, "read", "MW4"},
	} {
		if code, _, stderr := tagctl(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}

func TestGatewayConfigProblemsAreListedWithTheirLines(t *testing.T) {
	dir := t.TempDir()
	gw := writeFile(t, dir, "gateway.yaml", "devices:\n  - name: plc1\n    driver: s7\n    endpoint: 10.0.0.5\n    options: {rack: x}\nhttp: {lsten: x}\n")
	code, _, stderr := tagctl(t, "-config", gw, "-device", "plc1", "read", "MW4")
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"2 problems in " + gw,
		gw + `:6: http.listen: unknown field "lsten"`,
		gw + `:5: devices[0].options.rack: "x" is not a whole number`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestTheCauseOfAConnectionFailureIsInTheErrorField: without -v, a read
// of an unreachable PLC says why (connection refused, the PLC refusing
// the rack and slot), not only "not connected".
func TestTheCauseOfAConnectionFailureIsInTheErrorField(t *testing.T) {
	srv := startSim(t)
	addr := srv.Addr()
	_ = srv.Close()
	code, lines, _ := tagctl(t, "-driver", "s7", "-endpoint", addr, "read", "MW0")
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "connection refused") {
		t.Errorf("refused: exit %d, %v", code, lines)
	}
	other, err := s7sim.New(s7sim.Config{Rack: 0, Slot: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	code, lines, _ = tagctl(t, "-driver", "s7", "-endpoint", other.Addr(), "-slot", "3", "read", "MW0")
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "TSAP") {
		t.Errorf("wrong slot: exit %d, %v", code, lines)
	}
}

func TestAMissingTagFileNamesTheFlagAndTheDirectory(t *testing.T) {
	wd, _ := os.Getwd()
	code, _, stderr := tagctl(t, "-tags", "nowhere.csv", "-device", "kiln1", "read", "X")
	if code != 2 || !strings.Contains(stderr, `-tags: "nowhere.csv" is not in the working directory `+wd) {
		t.Errorf("exit %d, %s", code, stderr)
	}
}

// TestTagFileProblemsAllAtOnce: tagctl lists every problem of its tag
// files in one run, each with file, line and field.
func TestTagFileProblemsAllAtOnce(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string // "line: field"
	}{
		{"unknown fields", "devices:\n  - {name: kiln1, driver: s7, endpoint: x}\ntags:\n  - {name: A, device: kiln1, adress: MW0, type: INT}\n", []string{"4: adress", "4: address"}},
		{"bad option", "devices:\n  - name: kiln1\n    driver: s7\n    endpoint: x\n    options: {rack: x, slott: 1}\n", []string{"5: options.rack", "5: options"}},
		{"bad types and numbers", "devices:\n  - {name: kiln1, driver: s7, endpoint: x}\ntags:\n  - {name: A, device: kiln1, address: MW0, type: FLOT}\n  - {name: B, device: kiln1, address: MW2, type: INT, deadband: wide}\n", []string{"4: type", "5: deadband"}},
		{"unknown device and group", "devices:\n  - {name: kiln1, driver: s7, endpoint: x}\ntags:\n  - {name: A, device: kiln2, address: MW0, type: INT, group: fast}\n", []string{"4: device", "4: group"}},
		{"bad address", "devices:\n  - {name: kiln1, driver: s7, endpoint: x}\ntags:\n  - {name: A, device: kiln1, address: QQ0, type: INT}\n  - {name: A, device: kiln1, address: MW0, type: INT}\n", []string{"4: address", "5: name"}},
		{"groups", "devices:\n  - {name: kiln1, driver: s7, endpoint: x}\ngroups:\n  - {name: g, rate: 1ms}\n  - {name: h, rate: soon}\n", []string{"4: rate", "5: rate"}},
		{"unknown driver", "devices:\n  - {name: kiln1, driver: profibus, endpoint: x}\n", []string{"2: driver"}},
		{"syntax", "devices: [\n", []string{"1: "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "plant.yaml", c.yaml)
			code, _, stderr := tagctl(t, "-tags", file, "-device", "kiln1", "read", "A")
			if code != 2 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, fmt.Sprintf("in %s:", file)) {
				t.Errorf("no count of problems: %s", stderr)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n")[1:] {
				rest, ok := strings.CutPrefix(l, file+":")
				if !ok {
					t.Errorf("line without its file: %q", l)
					continue
				}
				lineNo, msg, _ := strings.Cut(rest, ": ")
				field, _, _ := strings.Cut(msg, ": ")
				if strings.HasPrefix(msg, "YAML syntax") {
					field = ""
				}
				got = append(got, lineNo+": "+field)
			}
			if strings.Join(got, " | ") != strings.Join(c.want, " | ") {
				t.Errorf("problems %q, want %q\n%s", got, c.want, stderr)
			}
		})
	}
}
