package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func TestMain(m *testing.M) {
	if os.Getenv("TAGCTL_RUN_MAIN") == "1" { // the test binary acting as tagctl
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

func startSim(t *testing.T) *s7sim.Server {
	t.Helper()
	srv, err := s7sim.New(s7sim.Config{DBs: map[int]int{1: 200, 5: 100}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// tagctl runs the CLI in-process and returns its status and output lines.
func tagctl(t *testing.T, args ...string) (int, []map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	var lines []map[string]any
	dec := json.NewDecoder(&out)
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("output is not JSON lines: %v\n%s", err, out.String())
		}
		lines = append(lines, m)
	}
	return code, lines, errb.String()
}

func TestReadPrintsOneLinePerTag(t *testing.T) {
	srv := startSim(t)
	_ = srv.Set("DB1.DBW4:INT", plc.IntValue(plc.Int, -12))
	_ = srv.Set("DB1.DBX0.1", plc.BoolValue(true))
	_ = srv.Set("DB1.DBB8:LINT", plc.IntValue(plc.LInt, 9007199254740993)) // not exact in a float64
	_ = srv.Set("DB5.DBB0[10]", plc.StringValue("hello"))
	_ = srv.Set("DB1.DBD20:REAL", plc.FloatValue(plc.Real, 2.5))
	_ = srv.Set("MW2", plc.UintValue(plc.Word, 513))
	before := srv.Requests()
	code, lines, stderr := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "read",
		"DB1.DBW4:INT", "DB1.DBX0.1", "DB1.DBB8:LINT", "DB5.DBB0[10]", "%db1.dbd20:real", "MW2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []struct {
		tag   string
		value string
	}{
		{"DB1.DBW4:INT", "-12"}, {"DB1.DBX0.1", "true"}, {"DB1.DBB8:LINT", "9007199254740993"},
		{"DB5.DBB0[10]", "hello"}, {"%db1.dbd20:real", "2.5"}, {"MW2", "513"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		l := lines[i]
		if l["tag"] != w.tag || l["quality"] != "good" || l["error"] != nil || fmtJSON(l["value"]) != w.value {
			t.Errorf("line %d: %v", i, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, l["ts"].(string)); err != nil {
			t.Errorf("ts %v", l["ts"])
		}
	}
	if _, ok := lines[1]["value"].(bool); !ok {
		t.Errorf("BOOL printed as %T", lines[1]["value"])
	}
	if n := srv.Requests() - before; n != 1 {
		t.Errorf("one read took %d requests, want 1 (all tags in one call)", n)
	}
}

func fmtJSON(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case string:
		return x
	}
	return "?"
}

func TestReadBadTagExitsOne(t *testing.T) {
	srv := startSim(t)
	code, lines, _ := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "read", "DB1.DBW0", "DB9.DBW0")
	if code != 1 || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines", code, len(lines))
	}
	if lines[0]["quality"] != "good" || lines[1]["quality"] != "bad" || !strings.Contains(lines[1]["error"].(string), "object does not exist") {
		t.Errorf("lines %v", lines)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	srv := startSim(t)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "read", "DB1.DBW4:REAL"}, `"DB1.DBW4:REAL"`},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "read"}, "at least one"},
		{[]string{"-driver", "s7", "read", "MW0"}, "-endpoint"},
		{[]string{"-driver", "profibus", "-endpoint", "x", "read", "MW0"}, `"profibus"`},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "frobnicate", "MW0"}, `"frobnicate"`},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "write", "MW0"}, `"MW0"`},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "-bogus", "read", "MW0"}, "bogus"},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "-slot", "99", "read", "MW0"}, "slot"},
		{[]string{"-tags", "/nonexistent.yaml", "read", "x"}, "nonexistent"},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "watch", "-count", "-1", "MW0"}, "-count"},
		{[]string{"-driver", "s7", "-endpoint", srv.Addr(), "-timeout", "0s", "read", "MW0"}, "-timeout"},
	}
	for _, c := range cases {
		code, lines, stderr := tagctl(t, c.args...)
		if code != 2 || len(lines) != 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %d lines, stderr %q (want it to name %s)", c.args, code, len(lines), stderr, c.want)
		}
	}
}

func TestWriteIsCheckedAndVerified(t *testing.T) {
	srv := startSim(t)
	before := srv.Requests()
	code, lines, stderr := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "write",
		"DB1.DBW4:INT=-300", "DB1.DBX0.3=true", "DB5.DBB0[10]=kiln", "DB1.DBB8:LREAL=0.1", "-verify")
	if code != 0 {
		t.Fatalf("exit %d: %s %v", code, stderr, lines)
	}
	for _, l := range lines {
		if l["quality"] != "good" || l["error"] != nil {
			t.Errorf("line %v", l)
		}
	}
	if len(lines) != 4 || lines[0]["tag"] != "DB1.DBW4:INT" || fmtJSON(lines[0]["value"]) != "-300" {
		t.Errorf("lines %v", lines)
	}
	for addr, want := range map[string]plc.Value{
		"DB1.DBW4:INT": plc.IntValue(plc.Int, -300), "DB1.DBX0.3": plc.BoolValue(true),
		"DB5.DBB0[10]": plc.StringValue("kiln"), "DB1.DBB8:LREAL": plc.FloatValue(plc.LReal, 0.1),
	} {
		if v, err := srv.Get(addr); err != nil || !v.Equal(want) {
			t.Errorf("%s in the PLC: %v, %v", addr, v, err)
		}
	}
	if srv.Requests() == before {
		t.Error("nothing was sent")
	}

	// Values that do not fit their type are refused before sending.
	before = srv.Requests()
	code, lines, _ = tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "write", "DB1.DBW4:INT=40000", "DB1.DBB0=abc", "DB5.DBB0[3]=toolong")
	if code != 1 || len(lines) != 3 {
		t.Fatalf("exit %d, lines %v", code, lines)
	}
	for _, l := range lines {
		if l["quality"] != "bad" || l["error"] == nil {
			t.Errorf("refused write printed %v", l)
		}
	}
	// The writer reads the old value before writing; nothing else may go out.
	if v, _ := srv.Get("DB1.DBW4:INT"); v.Float() != -300 {
		t.Errorf("refused write changed the PLC to %v", v)
	}
	if n := srv.Requests() - before; n > 0 {
		t.Errorf("%d requests for refused writes", n)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a poller.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestWatchReportsChanges(t *testing.T) {
	srv := startSim(t)
	_ = srv.Set("MW0", plc.UintValue(plc.Word, 1))
	var out, errb lockedBuffer
	done := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- run(ctx, []string{"-driver", "s7", "-endpoint", srv.Addr(), "watch", "-interval", "5ms", "MW0", "MW2"}, &out, &errb)
	}()
	waitLines := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(out.lines()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("watch printed %d lines, waiting for %d: %q", len(out.lines()), n, errb.lines())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitLines(2) // MW0 and MW2 at the start
	_ = srv.Set("MW0", plc.UintValue(plc.Word, 2))
	waitLines(3) // MW0 again when it changed; MW2 never changes
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after interrupt: %q", code, errb.lines())
	}
	lines := out.lines()
	if len(lines) != 3 || !strings.Contains(lines[0], `"tag":"MW0","value":1`) || !strings.Contains(lines[2], `"tag":"MW0","value":2`) {
		t.Errorf("watch printed:\n%s", strings.Join(lines, "\n"))
	}
}

func TestWatchCountEndsWithStatus(t *testing.T) {
	srv := startSim(t)
	code, lines, _ := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "watch", "-interval", "1ms", "-count", "3", "MW0", "DB9.DBW0")
	if code != 1 || len(lines) != 2 {
		t.Errorf("exit %d, lines %v", code, lines)
	}
}

func TestPointDatabaseMode(t *testing.T) {
	srv := startSim(t)
	dir := t.TempDir()
	yaml := `devices:
  - name: kiln1
    driver: s7
    endpoint: ` + srv.Addr() + `
    options: {rack: 0, slot: 1}
  - name: other
    driver: s7
    endpoint: 127.0.0.1:1
tags:
  - {name: Kiln1.Setpoint, device: kiln1, address: DB1.DBW2, type: INT, access: rw, min: 200, max: 1100,
     scaling: {raw_min: 0, raw_max: 27648, eng_min: 0, eng_max: 1200}}
  - {name: Kiln1.Running, device: kiln1, address: DB1.DBX0.0, type: BOOL}
  - {name: Other.X, device: other, address: MW0, type: INT}
`
	file := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, lines, stderr := tagctl(t, "-tags", file, "-device", "kiln1", "write", "Kiln1.Setpoint=600", "-verify")
	if code != 0 || len(lines) != 1 {
		t.Fatalf("exit %d: %s %v", code, stderr, lines)
	}
	if v, _ := srv.Get("DB1.DBW2:INT"); v.Float() != 13824 { // 600 of 0..1200 onto 0..27648
		t.Errorf("raw setpoint %v", v)
	}
	code, lines, _ = tagctl(t, "-tags", file, "-device", "kiln1", "write", "Kiln1.Setpoint=1150")
	if code != 1 || !strings.Contains(lines[0]["error"].(string), "maximum") {
		t.Errorf("write over the limit: exit %d, %v", code, lines)
	}
	code, lines, _ = tagctl(t, "-tags", file, "-device", "kiln1", "read", "Kiln1.Setpoint", "Kiln1.Running")
	if code != 0 || fmtJSON(lines[0]["value"]) != "600" || lines[1]["value"] != false {
		t.Errorf("read: exit %d, %v", code, lines)
	}
	for _, args := range [][]string{
		{"-tags", file, "read", "Kiln1.Running"},                          // two devices: -device needed
		{"-tags", file, "-device", "kiln1", "read", "Other.X"},            // another device's tag
		{"-tags", file, "-device", "kiln1", "read", "Nope"},               // unknown tag
		{"-tags", file, "-device", "kiln1", "-driver", "s7", "read", "x"}, // mixed modes
	} {
		if code, _, stderr := tagctl(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}

func TestUnreachableDeviceIsBadNotUsage(t *testing.T) {
	srv := startSim(t)
	addr := srv.Addr()
	_ = srv.Close()
	code, lines, _ := tagctl(t, "-driver", "s7", "-endpoint", addr, "read", "MW0")
	if code != 1 || len(lines) != 1 || lines[0]["quality"] != "bad" {
		t.Errorf("exit %d, %v", code, lines)
	}
}

// TestBinary runs tagctl as a process, for its real exit status and
// streams.
func TestBinary(t *testing.T) {
	srv := startSim(t)
	_ = srv.Set("MW4:INT", plc.IntValue(plc.Int, 77))
	cmd := exec.Command(os.Args[0], "-driver", "s7", "-endpoint", srv.Addr(), "read", "MW4:INT")
	cmd.Env = append(os.Environ(), "TAGCTL_RUN_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), `{"tag":"MW4:INT","value":77,"quality":"good","error":null,"ts":"`) || strings.Count(stdout.String(), "\n") != 1 {
		t.Errorf("stdout %q", stdout.String())
	}
	cmd = exec.Command(os.Args[0], "-driver", "s7", "-endpoint", srv.Addr(), "read", "DB1.DBW4:REAL")
	cmd.Env = append(os.Environ(), "TAGCTL_RUN_MAIN=1")
	cmd.Stderr = &stderr
	var ee *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("bad address: %v", err)
	}
}

// TestPointDatabaseFromCSV drives a tag list exported as CSV (devices and
// tags in two files, separated by semicolons) end to end: one
// request for a read of several tags, scaled values out, and writes
// through the checked-write path, whose refusals (read-only tag, value
// under the limit, unknown tag) send nothing to the PLC.
func TestPointDatabaseFromCSV(t *testing.T) {
	srv := startSim(t)
	_ = srv.Set("DB1.DBW10:INT", plc.IntValue(plc.Int, 27648))
	_ = srv.Set("DB1.DBD12:REAL", plc.FloatValue(plc.Real, 2.5))
	dir := t.TempDir()
	devices := "name;driver;endpoint;rack;slot;pdu_size\nkiln2;s7;" + srv.Addr() + ";0;1;240\n"
	tags := "name;device;address;type;access;scale_raw_min;scale_raw_max;scale_eng_min;scale_eng_max;min;max\n" +
		"Kiln2.Temp;kiln2;DB1.DBW10;INT;rw;0;27648;0;1200;100;1150\n" +
		"Kiln2.Flow;kiln2;DB1.DBD12;REAL;ro;;;;;;\n" +
		"Kiln2.Ratio;kiln2;DB1.DBD16;REAL;rw;;;;;0;1\n"
	devFile, tagFile := filepath.Join(dir, "devices.csv"), filepath.Join(dir, "tags.csv")
	if err := os.WriteFile(devFile, []byte(devices), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tagFile, []byte(tags), 0o600); err != nil {
		t.Fatal(err)
	}
	files := devFile + "," + tagFile

	before := srv.Requests()
	code, lines, stderr := tagctl(t, "-tags", files, "read", "Kiln2.Temp", "Kiln2.Flow", "Kiln2.Ratio")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("read: exit %d: %s %v", code, stderr, lines)
	}
	if fmtJSON(lines[0]["value"]) != "1200" || fmtJSON(lines[1]["value"]) != "2.5" || lines[0]["tag"] != "Kiln2.Temp" {
		t.Errorf("read %v", lines)
	}
	if n := srv.Requests() - before; n != 1 {
		t.Errorf("%d requests for one read of three tags", n)
	}

	code, lines, stderr = tagctl(t, "-tags", files, "-device", "kiln2", "write", "Kiln2.Temp=600", "Kiln2.Ratio=0.25", "-verify")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("write: exit %d: %s %v", code, stderr, lines)
	}
	if v, _ := srv.Get("DB1.DBW10:INT"); v.Float() != 13824 {
		t.Errorf("raw temperature %v after writing 600", v)
	}
	if v, _ := srv.Get("DB1.DBD16:REAL"); v.Float() != 0.25 {
		t.Errorf("ratio %v after writing 0.25", v)
	}

	before = srv.Requests()
	code, lines, _ = tagctl(t, "-tags", files, "write", "Kiln2.Flow=3", "Kiln2.Temp=50", "Kiln2.Ratio=2")
	if code != 1 || len(lines) != 3 {
		t.Fatalf("refused writes: exit %d, %v", code, lines)
	}
	for i, want := range []string{"read-only", "minimum", "maximum"} {
		if e, _ := lines[i]["error"].(string); !strings.Contains(e, want) || lines[i]["quality"] != "bad" {
			t.Errorf("line %d: %v, want an error naming %q", i, lines[i], want)
		}
	}
	if n := srv.Requests() - before; n != 0 {
		t.Errorf("%d requests for refused writes", n)
	}
	if v, _ := srv.Get("DB1.DBW10:INT"); v.Float() != 13824 {
		t.Errorf("refused write changed the temperature to %v", v)
	}
	if code, _, stderr := tagctl(t, "-tags", files, "write", "Kiln2.Nope=1"); code != 2 || !strings.Contains(stderr, "Kiln2.Nope") {
		t.Errorf("unknown tag: exit %d, %q", code, stderr)
	}

	code, lines, _ = tagctl(t, "-tags", files, "watch", "-interval", "1ms", "-count", "2", "Kiln2.Temp")
	if code != 0 || len(lines) != 1 || fmtJSON(lines[0]["value"]) != "600" {
		t.Errorf("watch: exit %d, %v", code, lines)
	}
}

// TestS7TSAPFlags connects with explicit TSAPs to a CPU in slot 2 that
// accepts only local TSAP 10.02.
func TestS7TSAPFlags(t *testing.T) {
	srv, err := s7sim.New(s7sim.Config{Slot: 2, LocalTSAP: 0x1002})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Set("MW0:INT", plc.IntValue(plc.Int, 9))
	code, lines, stderr := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "-remote-tsap", "01.02", "-local-tsap", "10.02", "-pdu", "240", "read", "MW0:INT")
	if code != 0 || len(lines) != 1 || fmtJSON(lines[0]["value"]) != "9" {
		t.Fatalf("exit %d: %s %v", code, stderr, lines)
	}
	if code, lines, _ := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "-slot", "2", "read", "MW0:INT"); code != 1 || lines[0]["quality"] != "bad" {
		t.Errorf("from the default local TSAP: exit %d, %v", code, lines)
	}
	if code, _, stderr := tagctl(t, "-driver", "s7", "-endpoint", srv.Addr(), "-local-tsap", "zz", "read", "MW0"); code != 2 || !strings.Contains(stderr, "local_tsap") {
		t.Errorf("bad TSAP: exit %d, %q", code, stderr)
	}
}

func TestModbusReadAndWrite(t *testing.T) {
	srv, err := modbussim.New(modbussim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_ = srv.Set("2!HR10:REAL:CDAB", plc.FloatValue(plc.Real, 21.5))
	_ = srv.Set("2!CO3", plc.BoolValue(true))
	code, lines, stderr := tagctl(t, "-driver", "modbus", "-endpoint", srv.Addr(), "-unit", "2", "-byte-order", "CDAB",
		"read", "HR10:REAL", "co3", "40001")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d: %s %v", code, stderr, lines)
	}
	for i, want := range []string{"21.5", "true", "0"} {
		if lines[i]["quality"] != "good" || fmtJSON(lines[i]["value"]) != want {
			t.Errorf("line %d: %v, want %s", i, lines[i], want)
		}
	}
	code, lines, stderr = tagctl(t, "-driver", "modbus", "-endpoint", srv.Addr(), "write", "HR5:DINT:DCBA=-70000", "-verify")
	if code != 0 || len(lines) != 1 || lines[0]["error"] != nil {
		t.Fatalf("exit %d: %s %v", code, stderr, lines)
	}
	if v, err := srv.Get("HR5:DINT:DCBA"); err != nil || v.Float() != -70000 {
		t.Errorf("HR5 = %v, %v", v, err)
	}
	code, _, stderr = tagctl(t, "-driver", "modbus", "-endpoint", srv.Addr(), "read", "HR5:REAL:XYZW")
	if code != 2 || !strings.Contains(stderr, "byte order") {
		t.Errorf("bad order: exit %d, %s", code, stderr)
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &out, &errb); code != 0 {
		t.Fatalf("-version: exit %d\n%s", code, errb.String())
	}
	if want := buildinfo.Get().String() + "\n"; out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}
