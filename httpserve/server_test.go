package httpserve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServeAnswersUntilCancelledThenReturnsNil(t *testing.T) {
	srv, err := Listen(Config{Listen: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
	if err := srv.Serve(ctx); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v, want ErrServing", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v after cancel, want nil", err)
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
}

func TestShutdownTimeoutIsReported(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv, err := Listen(Config{Listen: "127.0.0.1:0", ShutdownTimeout: 50 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	getDone := make(chan struct{})
	go func() {
		defer close(getDone)
		resp, err := http.Get(srv.URL())
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, ErrShutdownTimeout) {
		t.Errorf("Serve = %v, want ErrShutdownTimeout", err)
	}
	close(release)
	<-getDone
	_ = srv.Close()
}

func TestListenNamesTheAddress(t *testing.T) {
	first, err := Listen(Config{Listen: "127.0.0.1:0"}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = Listen(Config{Listen: first.Addr().String()}, http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), first.Addr().String()) {
		t.Errorf("second Listen on a taken port = %v", err)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	err := Config{Listen: "8080", ShutdownTimeout: -1}.Validate()
	list := config.List(err)
	if len(list) != 2 || list[0].Path != "listen" || list[1].Path != "shutdown_timeout" {
		t.Errorf("Validate = %v", err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("an empty listen address is accepted")
	}
}

func TestCloseBeforeServeReleasesThePort(t *testing.T) {
	srv, err := Listen(Config{Listen: "127.0.0.1:0"}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	_ = srv.Close()
	again, err := Listen(Config{Listen: addr}, http.NotFoundHandler())
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	_ = again.Close()
	if err := srv.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Errorf("Serve after Close = %v, want ErrServing", err)
	}
}
