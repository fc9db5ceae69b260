package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNoFlagsServesTheDemo builds the binary and runs it as a user would,
// in an empty working directory, with only the port changed: it starts the
// demo plant, serves live values, writes to ./kiln-data and stops cleanly
// on SIGTERM.
func TestNoFlagsServesTheDemo(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "edge-gateway")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary: %v", err)
	}
	build := exec.Command(gobin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	cmd.Dir = work
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		exited <- cmd.Wait()
	}()

	// The banner says where to look.
	var base, banner string
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before serving:\n%s\n%s", banner, stderr.String())
			}
			banner += l + "\n"
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "HTTP API"); ok {
				base = strings.TrimSuffix(strings.TrimSpace(rest), "/")
			}
			done = strings.HasPrefix(l, "Stop with")
		case <-timeout:
			t.Fatalf("no banner:\n%s\n%s", banner, stderr.String())
		}
	}
	go func() {
		for range lines { // drain the rest
		}
	}()
	for _, want := range []string{"demo plant", "kiln-data/spool", "kiln-data/samples.db", "/api/values"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	// Live values, all good, within a few seconds.
	type value struct {
		Tag   string          `json:"tag"`
		Value json.RawMessage `json:"value"`
		Good  bool            `json:"good"`
	}
	var values struct{ Values []value }
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/api/values")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(b, &values); err != nil {
				t.Fatalf("values: %v: %s", err, b)
			}
			good := 0
			for _, v := range values.Values {
				if v.Good {
					good++
				}
			}
			if good > 0 && good == len(values.Values) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no good live values: %+v\n%s", values, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(values.Values) < 10 {
		t.Fatalf("only %d tags", len(values.Values))
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// SIGTERM: a clean stop, with the data directory in the working one.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM\n%s", stderr.String())
	}
	for _, p := range []string{"kiln-data/spool", "kiln-data/samples.db"} {
		if _, err := os.Stat(filepath.Join(work, p)); err != nil {
			t.Error(err)
		}
	}
}

func TestHelpDocumentsEveryField(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, &out, &out)
	if err == nil {
		t.Fatal("-h ran the gateway")
	}
	for _, want := range []string{"-listen", "-config", "tag_files:", "spool:", "max_bytes:", "command_topic:", "publishing_interval:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

func TestBadConfigNamesFileLineField(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(f, []byte("id: gw\ndevices:\n  - name: plc1\n    driver: profinet\n    endpoint: 10.0.0.1:102\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", f}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), f+":4: devices[0].driver: unknown driver \"profinet\"") {
		t.Fatalf("error %v", err)
	}
}
