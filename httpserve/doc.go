// Package httpserve is the HTTP server every kiln service runs for its
// API, console, /healthz and /metrics: it binds its listener when made,
// so a taken port is an error at startup and the address is known before
// serving, and it implements Serve(ctx) so a supervisor runs it; when ctx
// ends it shuts down gracefully, letting requests in flight finish for up
// to Config.ShutdownTimeout.
//
//	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:8080"}, mux)
//	if err != nil { ... }              // names the listen address
//	fmt.Println("API on", srv.URL())
//	err = srv.Serve(ctx)               // nil after a clean shutdown
//
// Probe is the other end, for a binary's -healthcheck flag (container
// images without curl): it GETs the service's own /healthz by its listen
// address and returns nil on 200 OK.
package httpserve
