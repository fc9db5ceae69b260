package httpserve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

// serveStatus starts a server answering /healthz with status and
// returns its port.
func serveStatus(t *testing.T, status int) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "spool: disk full\n")
	})
	srv, err := Listen(Config{Listen: "127.0.0.1:0"}, mux)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = srv.Close()
	})
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	return port
}

func TestProbeIsNilOnOKAndErrUnhealthyOtherwise(t *testing.T) {
	ok := serveStatus(t, http.StatusOK)
	// A service listening on all interfaces is asked on the loopback.
	for _, listen := range []string{"127.0.0.1:" + ok, ":" + ok, "0.0.0.0:" + ok} {
		if err := Probe(context.Background(), listen, "/healthz"); err != nil {
			t.Errorf("Probe(%s) = %v, want nil", listen, err)
		}
	}
	bad := serveStatus(t, http.StatusServiceUnavailable)
	err := Probe(context.Background(), "127.0.0.1:"+bad, "/healthz")
	if !errors.Is(err, ErrUnhealthy) {
		t.Errorf("Probe on 503 = %v, want ErrUnhealthy", err)
	}
	if err := Probe(context.Background(), "127.0.0.1:"+ok, "/nothing"); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("Probe on 404 = %v, want ErrUnhealthy", err)
	}
}

func TestProbeFailsWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	err = Probe(context.Background(), addr, "/healthz")
	if err == nil || errors.Is(err, ErrUnhealthy) {
		t.Errorf("Probe with nothing listening = %v, want a connection error", err)
	}
	if err := Probe(context.Background(), "no-port", "/healthz"); err == nil {
		t.Error("Probe of an address without a port = nil")
	}
}
