package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

var uaTags = []plc.Tag{
	{Name: "Line1.Kiln.Temp", Type: plc.TypeLReal},
	{Name: "Line1.Kiln.Speed", Type: plc.TypeInt, Access: plc.ReadWrite},
	{Name: "Line1.Name", Type: plc.StringType(16), Access: plc.ReadWrite},
}

func startUASim(t *testing.T) *uasim.Server {
	t.Helper()
	s, err := uasim.New(uasim.Config{}, uaTags)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func TestOPCUAReadWriteWithServerTypes(t *testing.T) {
	sim := startUASim(t)
	_ = sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 1180.5))
	ep := sim.Endpoint()
	// The value is converted to the node's type as read from the server
	// (INT), and the node id's own "=" does not confuse TAG=VALUE.
	code, lines, stderr := tagctl(t, "-driver", "opcua", "-endpoint", ep, "write", "ns=2;s=Line1.Kiln.Speed=1450", "/2:Line1/Name=kiln one")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("write: exit %d, %v, %s", code, lines, stderr)
	}
	if v, _ := sim.Get("Line1.Kiln.Speed"); v.Kind() != plc.Int || v.String() != "1450" {
		t.Fatalf("server has %v (%v)", v, v.Kind())
	}
	if v, _ := sim.Get("Line1.Name"); v.Str() != "kiln one" {
		t.Fatalf("server has %q", v.Str())
	}
	code, lines, stderr = tagctl(t, "-driver", "opcua", "-endpoint", ep, "read", "ns=2;s=Line1.Kiln.Temp", "ns=2;s=Line1.Kiln.Speed:DINT", "/2:Line1/Name")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("read: exit %d, %v, %s", code, lines, stderr)
	}
	want := []string{"1180.5", "1450", "kiln one"}
	for i, l := range lines {
		if got := strings.Trim(string(mustJSON(t, l["value"])), `"`); got != want[i] || l["quality"] != "good" {
			t.Errorf("line %d = %v, want value %s", i, l, want[i])
		}
	}
	// The data types of untyped nodes are learnt over one session, not
	// one each: a session for that and one for the read (3 would allow
	// one reconnect on a loaded machine; one session per node makes 4).
	before := sim.Sessions()
	code, lines, stderr = tagctl(t, "-driver", "opcua", "-endpoint", ep, "read", "ns=2;s=Line1.Kiln.Temp", "ns=2;s=Line1.Kiln.Speed", "/2:Line1/Name")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("read untyped: exit %d, %v, %s", code, lines, stderr)
	}
	if n := sim.Sessions() - before; n < 2 || n > 3 {
		t.Errorf("read of 3 untyped nodes took %d sessions, want 2", n)
	}
	// Writing a read-only node fails with the server's status code.
	code, lines, _ = tagctl(t, "-driver", "opcua", "-endpoint", ep, "write", "ns=2;s=Line1.Kiln.Temp=1")
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "BadNotWritable") {
		t.Errorf("read-only write: exit %d, %v", code, lines)
	}
	// A node the server does not have gets a bad line naming it; the
	// other nodes are read all the same, as S7 does with a bad address.
	code, lines, stderr = tagctl(t, "-driver", "opcua", "-endpoint", ep, "read", "ns=2;s=Line1.Kiln.Temp", "ns=2;s=Nope", "/2:Line1/Name")
	if code != 1 || len(lines) != 3 {
		t.Fatalf("unknown node: exit %d, %v, %s", code, lines, stderr)
	}
	if lines[0]["quality"] != "good" || lines[2]["quality"] != "good" || lines[1]["tag"] != "ns=2;s=Nope" ||
		lines[1]["quality"] != "bad" || !strings.Contains(lines[1]["error"].(string), "ns=2;s=Nope") {
		t.Errorf("unknown node among good ones: %v", lines)
	}
	// A node id that does not parse is still a usage error.
	if code, _, stderr := tagctl(t, "-driver", "opcua", "-endpoint", ep, "read", "ns=x;q=1"); code != 2 || !strings.Contains(stderr, "ns=x;q=1") {
		t.Errorf("bad node id: exit %d, %s", code, stderr)
	}
	code, _, stderr = tagctl(t, "-driver", "opcua", "-endpoint", ep, "-security-mode", "Sign", "read", "i=85")
	if code != 2 || !strings.Contains(stderr, "security_mode") {
		t.Errorf("bad security flags: exit %d, %s", code, stderr)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOPCUABrowse(t *testing.T) {
	sim := startUASim(t)
	code, lines, stderr := tagctl(t, "-driver", "opcua", "-endpoint", sim.Endpoint(), "browse", "ns=2;s=Line1", "-depth", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := map[string]map[string]any{}
	for _, l := range lines {
		got[l["nodeid"].(string)] = l
	}
	want := map[string][3]string{
		"ns=2;s=Line1.Kiln":       {"2:Kiln", "Object", ""},
		"ns=2;s=Line1.Name":       {"2:Name", "Variable", "STRING[254]"},
		"ns=2;s=Line1.Kiln.Temp":  {"2:Temp", "Variable", "LREAL"},
		"ns=2;s=Line1.Kiln.Speed": {"2:Speed", "Variable", "INT"},
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d: %v", len(lines), len(want), lines)
	}
	for id, w := range want {
		l := got[id]
		if l == nil || l["browse_name"] != w[0] || l["class"] != w[1] || l["type"] != w[2] {
			t.Errorf("%s: %v, want %v", id, l, w)
		}
	}
	code, lines, _ = tagctl(t, "-driver", "opcua", "-endpoint", sim.Endpoint(), "browse", "ns=2;s=Line1", "-depth", "1")
	if code != 0 || len(lines) != 2 {
		t.Errorf("depth 1: exit %d, %d lines", code, len(lines))
	}
	if code, _, _ := tagctl(t, "-driver", "s7", "-endpoint", "127.0.0.1:1", "browse"); code != 2 {
		t.Errorf("browse on s7: exit %d, want 2", code)
	}
}

// jsonLines returns the JSON objects among the lines written so far.
func (l *lockedBuffer) jsonLines() []map[string]any {
	var out []map[string]any
	for _, line := range l.lines() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (l *lockedBuffer) waitFor(t *testing.T, what string, cond func(m map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ls := l.jsonLines()
		if len(ls) > 0 && cond(ls[len(ls)-1]) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; output: %v", what, l.jsonLines())
}

// lastOf returns the last line of out about tag, or nil.
func lastOf(ls []map[string]any, tag string) map[string]any {
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i]["tag"] == tag {
			return ls[i]
		}
	}
	return nil
}

func TestOPCUAWatchShowsOutageAndRecovery(t *testing.T) {
	sim := startUASim(t)
	_ = sim.Set("Line1.Kiln.Speed", plc.IntValue(plc.Int, 7))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", strings.Join(errb.lines(), "\n"))
		}
	})
	done := make(chan int)
	const temp, speed = "ns=2;s=Line1.Kiln.Temp", "/2:Line1/Kiln/Speed"
	go func() {
		done <- run(ctx, []string{"-v", "-driver", "opcua", "-endpoint", sim.Endpoint(), "watch", "-interval", "20ms", temp, speed}, &out, &errb)
	}()
	both := func(what string, cond func(m map[string]any) bool) {
		t.Helper()
		out.waitFor(t, what, func(map[string]any) bool {
			ls := out.jsonLines()
			a, b := lastOf(ls, temp), lastOf(ls, speed)
			return a != nil && b != nil && cond(a) && cond(b)
		})
	}
	both("initial values", func(m map[string]any) bool { return m["quality"] == "good" })
	_ = sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 42))
	out.waitFor(t, "change", func(map[string]any) bool { return lastOf(out.jsonLines(), temp)["value"] == 42.0 })
	n := len(out.jsonLines())
	_ = sim.Stop()
	both("bad lines during the outage", func(m map[string]any) bool {
		e, _ := m["error"].(string)
		return m["quality"] == "bad" && m["value"] == nil && strings.Contains(e, "BadNotConnected")
	})
	_ = sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 43))
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	both("good lines after recovery", func(m map[string]any) bool { return m["quality"] == "good" })
	cancel() // as SIGINT does
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	// After the change: exactly one bad line per tag, then one good line
	// per tag with the value the server has now; no repeats.
	ls := out.jsonLines()[n:]
	if len(ls) != 4 {
		t.Fatalf("%d lines after the change, want 2 bad + 2 good: %v", len(ls), ls)
	}
	if lastOf(ls, temp)["value"] != 43.0 || lastOf(ls, speed)["value"] != 7.0 {
		t.Errorf("values after recovery: %v", ls)
	}
}

// tagctlConnected is tagctl for a watch with -count, run again (at most
// three times) when a line says the client was not connected: a session
// that a loaded machine drops is not what the callers test.
func tagctlConnected(t *testing.T, args ...string) (int, []map[string]any, string) {
	t.Helper()
	for try := 1; ; try++ {
		code, lines, stderr := tagctl(t, append([]string{"-v"}, args...)...)
		notConnected := slices.ContainsFunc(lines, func(m map[string]any) bool {
			e, _ := m["error"].(string)
			return strings.Contains(e, "BadNotConnected")
		})
		if !notConnected || try == 3 {
			return code, lines, stderr
		}
		t.Logf("not connected on try %d, again; log:\n%s", try, stderr)
	}
}

func TestOPCUAWatchCount(t *testing.T) {
	sim := startUASim(t)
	_ = sim.Set("Line1.Name", plc.StringValue("kiln"))
	code, lines, stderr := tagctlConnected(t, "-driver", "opcua", "-endpoint", sim.Endpoint(), "watch", "-count", "2", "ns=2;s=Line1.Kiln.Temp", "ns=2;s=Line1.Name")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, %v, %s", code, lines, stderr)
	}
	if lastOf(lines, "ns=2;s=Line1.Name")["value"] != "kiln" {
		t.Errorf("lines: %v", lines)
	}
	// A node the server refuses is reported Bad with its status code, and
	// the watch ends with exit 1.
	code, lines, stderr = tagctlConnected(t, "-driver", "opcua", "-endpoint", sim.Endpoint(), "watch", "-count", "1", "ns=2;s=Nope:INT")
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "BadNodeIdUnknown") {
		t.Fatalf("unknown node: exit %d, %v, %s", code, lines, stderr)
	}
}

func TestOPCUATrustedCert(t *testing.T) {
	sim := startUASim(t)
	_ = sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 7.5))
	dir := t.TempDir()
	trust := filepath.Join(dir, "server.der")
	if err := os.WriteFile(trust, sim.Certificate(), 0o644); err != nil {
		t.Fatal(err)
	}
	sec := []string{"-driver", "opcua", "-endpoint", sim.Endpoint(), "-security-policy", "Basic256Sha256",
		"-cert-file", filepath.Join(dir, "c.der"), "-key-file", filepath.Join(dir, "k.pem")}
	code, lines, stderr := tagctl(t, append(sec, "-trusted-cert", trust, "read", "ns=2;s=Line1.Kiln.Temp")...)
	if code != 0 || len(lines) != 1 || lines[0]["quality"] != "good" {
		t.Fatalf("trusted: exit %d, %v, %s", code, lines, stderr)
	}
	code, _, stderr = tagctl(t, append(sec, "-trusted-cert", filepath.Join(dir, "none.der"), "read", "ns=2;s=Line1.Kiln.Temp")...)
	if code != 2 || !strings.Contains(stderr, "trusted_certs") {
		t.Fatalf("missing trust list: exit %d, %s", code, stderr)
	}
}

// TestOPCUAWatchBinary runs tagctl as a process: watch through a point
// database with an OPC UA device (values scaled to engineering units)
// subscribes, prints the changes, and a real SIGINT ends it with exit 0.
func TestOPCUAWatchBinary(t *testing.T) {
	sim := startUASim(t)
	_ = sim.Set("Line1.Kiln.Speed", plc.IntValue(plc.Int, 1000))
	yaml := `devices:
  - {name: kiln, driver: opcua, endpoint: "` + sim.Endpoint() + `"}
tags:
  - {name: Kiln.Speed, device: kiln, address: "ns=2;s=Line1.Kiln.Speed", type: INT,
     scaling: {raw_min: 0, raw_max: 2000, eng_min: 0, eng_max: 100}}
`
	file := filepath.Join(t.TempDir(), "plant.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-tags", file, "-device", "kiln", "watch", "-interval", "20ms", "Kiln.Speed")
	cmd.Env = append(os.Environ(), "TAGCTL_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // on a failure; a no-op after Wait
	lines := make(chan map[string]any, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("tagctl ended early: %s", stderr.String())
			}
			return m
		case <-time.After(20 * time.Second):
			t.Fatalf("no line; stderr: %s", stderr.String())
		}
		return nil
	}
	if m := next(); m["tag"] != "Kiln.Speed" || m["value"] != 50.0 || m["quality"] != "good" {
		t.Fatalf("first line %v, want 50 (1000 of 0..2000 onto 0..100)", m)
	}
	_ = sim.Set("Line1.Kiln.Speed", plc.IntValue(plc.Int, 1500))
	if m := next(); m["value"] != 75.0 {
		t.Fatalf("change %v, want 75", m)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until stdout closes
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v; stderr: %s", err, stderr.String())
	}
}

// browse -export writes the subtree as a point database the gateway
// loads: read back through it, every tag reaches its node.
func TestOPCUABrowseExportWritesALoadablePointDatabase(t *testing.T) {
	tags := append(slices.Clone(uaTags), plc.Tag{Name: "Line1.Kiln.Mode", Type: plc.TypeDInt, Description: "Firing mode"})
	sim, err := uasim.New(uasim.Config{}, tags)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop() })
	_ = sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 1180.5))
	_ = sim.Set("Line1.Kiln.Mode", plc.IntValue(plc.DInt, 3))

	dir := t.TempDir()
	for _, ext := range []string{"yaml", "csv"} {
		out := filepath.Join(dir, "line1."+ext)
		code, _, stderr := tagctl(t, "-driver", "opcua", "-endpoint", sim.Endpoint(), "-device", "wincc", "browse", "/2:Line1", "-depth", "0", "-export", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", ext, code, stderr)
		}
		plant := filepath.Join(dir, "plant.yaml")
		if err := os.WriteFile(plant, []byte("devices: [{name: wincc, driver: opcua, endpoint: \""+sim.Endpoint()+"\"}]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := plc.Load(plant, out)
		if err != nil {
			t.Fatalf("%s: Load: %v", ext, err)
		}
		want := map[string]plc.Tag{
			"Line1.Kiln.Temp":  {Name: "Line1.Kiln.Temp", Device: "wincc", Address: "nsu=urn:kiln:uasim;s=Line1.Kiln.Temp", Type: plc.TypeLReal},
			"Line1.Kiln.Speed": {Name: "Line1.Kiln.Speed", Device: "wincc", Address: "nsu=urn:kiln:uasim;s=Line1.Kiln.Speed", Type: plc.TypeInt, Access: plc.ReadWrite},
			"Line1.Name":       {Name: "Line1.Name", Device: "wincc", Address: "nsu=urn:kiln:uasim;s=Line1.Name", Type: plc.StringType(254), Access: plc.ReadWrite},
			"Line1.Kiln.Mode":  {Name: "Line1.Kiln.Mode", Device: "wincc", Address: "nsu=urn:kiln:uasim;s=Line1.Kiln.Mode", Type: plc.TypeDInt, Description: "Firing mode"},
		}
		if len(db.Tags) != len(want) {
			t.Fatalf("%s: %d tags: %+v", ext, len(db.Tags), db.Tags)
		}
		for _, tag := range db.Tags {
			w := want[tag.Name]
			if tag.Name != w.Name || tag.Device != w.Device || tag.Address != w.Address || tag.Type != w.Type || tag.Access != w.Access || tag.Description != w.Description {
				t.Errorf("%s: tag %+v, want %+v", ext, tag, w)
			}
		}
		code, lines, stderr := tagctl(t, "-tags", plant+","+out, "read", "Line1.Kiln.Temp", "Line1.Kiln.Mode")
		if code != 0 || len(lines) != 2 || lines[0]["value"].(json.Number).String() != "1180.5" || lines[1]["value"].(json.Number).String() != "3" {
			t.Fatalf("%s: read through the export: exit %d, %v, %s", ext, code, lines, stderr)
		}
	}
}
