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
	if err := srv.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
}

// A supervisor restarts a child by serving it again: the server binds its
// address again, the same port even when it was picked by port 0.
func TestServeAgainAfterItReturnedServesTheSameAddress(t *testing.T) {
	srv, err := Listen(Config{Listen: "127.0.0.1:0"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := srv.URL()
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ctx) }()
		var resp *http.Response
		deadline := time.Now().Add(20 * time.Second)
		for {
			if resp, err = http.Get(url); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		resp.Body.Close()
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("round %d: Serve = %v", round, err)
		}
		if srv.URL() != url {
			t.Fatalf("round %d: URL %s, was %s", round, srv.URL(), url)
		}
	}
}

func TestCloseEndsARunningServe(t *testing.T) {
	srv, err := Listen(Config{Listen: "127.0.0.1:0"}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(srv.URL())
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = srv.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve ended by Close = %v, want ErrClosed", err)
	}
}
