package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/buildinfo"
)

func TestVersionPrintsTheBuild(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-version"}, &out, &errb); err != nil {
		t.Fatalf("-version: %v\n%s", err, errb.String())
	}
	if want := buildinfo.Get().String() + "\n"; out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}

// healthcheck runs the binary's -healthcheck against listen and returns
// its exit status.
func healthcheck(t *testing.T, listen string) int {
	t.Helper()
	out, err := exec.Command(binary(t), "-healthcheck", "-listen", listen).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		t.Fatalf("-healthcheck: %v\n%s", err, out)
		return -1
	}
}

// The demo gateway logs and exports its build, and its -healthcheck
// exits 0 while it serves a healthy /healthz and 1 once it is gone.
func TestBuildIsLoggedAndExportedAndHealthcheckFollowsHealthz(t *testing.T) {
	p := start(t, t.TempDir(), "-listen", "127.0.0.1:0")
	listen := strings.TrimPrefix(p.base, "http://")
	p.waitAllGood(t)
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `kiln_build_info{commit=`) {
		t.Errorf("/metrics has no kiln_build_info")
	}
	deadline := time.Now().Add(30 * time.Second)
	for healthcheck(t, listen) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("-healthcheck never exited 0 against a serving gateway\n%s", p.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "version") {
		t.Errorf("the log does not name the version:\n%s", p.stderr.String())
	}
	if code := healthcheck(t, listen); code != 1 {
		t.Errorf("-healthcheck with the gateway stopped exited %d, want 1", code)
	}
}
