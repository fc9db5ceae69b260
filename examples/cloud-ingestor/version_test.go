package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/httpserve"
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

// The ingestor logs and exports its build, and -healthcheck with the same
// configuration answers nil while it is healthy and fails once it is gone.
func TestBuildIsLoggedAndExportedAndHealthcheckFollowsHealthz(t *testing.T) {
	p := newPlant(t, "")
	c := p.start()
	listen := strings.TrimPrefix(c.url(""), "http://")
	check := func() error {
		return run(context.Background(), []string{"-config", p.config, "-http.listen", listen, "-healthcheck"}, io.Discard, io.Discard)
	}
	waitFor(t, "-healthcheck passes", func() bool { return check() == nil }, c)
	if c.metric("kiln_build_info") != 1 {
		t.Errorf("kiln_build_info is not 1 on /metrics")
	}
	if err := c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, c.logText())
	}
	if log := c.logText(); !strings.Contains(log, `"kiln cloud ingestor"`) || !strings.Contains(log, `"version":`) {
		t.Errorf("the first log line lacks the build:\n%s", log)
	}
	if err := check(); err == nil || errors.Is(err, httpserve.ErrUnhealthy) {
		t.Errorf("-healthcheck with the ingestor stopped = %v, want a connection error", err)
	}
}
