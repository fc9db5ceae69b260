package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// units are the systemd units under systemd/ and the binary each runs.
var units = []struct{ file, binary, config string }{
	{"kiln-gateway.service", "edge-gateway", "/etc/kiln/gateway.yaml"},
	{"kiln-ai-monitor.service", "ai-monitor", "/etc/kiln/ai-monitor.yaml"},
}

// unitKeys reads a unit file's [Section] Key=value settings (the last
// value of a key wins, as systemd reads a single-valued setting).
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not a Key=value in a section", path, n, line)
			}
			keys[section+"."+k] = v
		}
	}
	return keys
}

// TestSystemdUnitsVerifyAndSandboxTheService runs systemd-analyze verify
// on each unit (with its ExecStart pointed at a stand-in executable, since
// the binary is not installed here) and requires no complaint at all, then
// checks the settings the edge install relies on.
func TestSystemdUnitsVerifyAndSandboxTheService(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (install Debian's systemd package, as ./scripts/test does): %v", err)
	}
	for _, u := range units {
		t.Run(u.file, func(t *testing.T) {
			path := filepath.Join("systemd", u.file)
			k := unitKeys(t, path)
			want := map[string]string{
				"Service.ExecStart":             "/usr/local/bin/" + u.binary + " -config " + u.config,
				"Service.Restart":               "on-failure",
				"Service.KillSignal":            "SIGTERM",
				"Service.ProtectSystem":         "strict",
				"Service.ProtectHome":           "yes",
				"Service.NoNewPrivileges":       "yes",
				"Service.PrivateTmp":            "yes",
				"Service.DynamicUser":           "yes",
				"Service.StateDirectory":        strings.TrimSuffix(u.file, ".service"),
				"Service.WorkingDirectory":      "/var/lib/" + strings.TrimSuffix(u.file, ".service"),
				"Service.CapabilityBoundingSet": "",
				"Install.WantedBy":              "multi-user.target",
			}
			for key, v := range want {
				if got, ok := k[key]; !ok || got != v {
					t.Errorf("%s: %s = %q, want %q", path, key, got, v)
				}
			}

			dir := t.TempDir()
			stub := filepath.Join(dir, u.binary)
			if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			copyPath := filepath.Join(dir, u.file)
			text := strings.ReplaceAll(string(b), "/usr/local/bin/"+u.binary, stub)
			if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			// verify exits 0 on settings it ignores; any output is a
			// complaint.
			out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u.file, err, out)
			}
		})
	}
}
