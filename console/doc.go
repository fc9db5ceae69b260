// Package console is kiln's operator console: the web UI (tag browser,
// live values, trends, staged writes, recipes, audit trail, dashboards,
// status) and the HTTP API behind it, documented as OpenAPI 3 at
// /api/openapi.json. It is built once and served by the edge gateway and
// by the cloud platform, each implementing the Backend interface; the
// console knows neither.
//
// Users log in with a session cookie (HttpOnly, SameSite=Strict, Secure
// under TLS); every state-changing request carries the session's CSRF
// token and comes from the console's own origin; machines use bearer
// tokens (package console/auth). A write is checked by the console (role,
// writable, type, limits, a second confirmation for critical tags) and
// again by the backend before it reaches a device, read back and audited.
//
//	users, _ := auth.OpenFile("users.yaml")
//	am, _ := auth.New(auth.Config{}, users)
//	docs, _ := console.OpenDocs("dashboards.json")
//	c, err := console.New(console.Config{}, backend, am, docs)
//	if err != nil { … }
//	defer c.Close() // ends live streams before the server shuts down
//	srv, _ := httpserve.Listen(httpserve.Config{Listen: ":8080"}, c)
//	_ = srv.Serve(ctx)
//
// The page names its assets and the API relative to itself, so a server
// may mount the console under a prefix: mux.Handle("/console/",
// http.StripPrefix("/console", c)).
//
// The front end is plain JavaScript and CSS in web/, embedded and served
// under content-hashed names; go generate ./console writes their gzip and
// brotli forms. Package console/consoletest runs a simulated plant behind
// a Backend for tests and demos.
package console
