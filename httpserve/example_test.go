package httpserve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kiln-iot/kiln/httpserve"
)

// A service binds its server, then serves until its context ends.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, mux)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	resp, err := http.Get(srv.URL() + "/healthz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// ok
	// stopped: <nil>
}

// A binary's -healthcheck flag asks its own server, by the address of its
// configuration, and exits 0 or 1 on the answer.
func ExampleProbe() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no device up", http.StatusServiceUnavailable)
	})
	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, mux)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	err = httpserve.Probe(context.Background(), srv.Addr().String(), "/healthz")
	fmt.Println(errors.Is(err, httpserve.ErrUnhealthy))
	cancel()
	<-done
	// Output:
	// true
}
