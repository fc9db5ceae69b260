package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/httpserve"
	"github.com/kiln-iot/kiln/plc"
)

// env is a console over the simulated plant, served on a real socket.
type env struct {
	t       testing.TB
	plant   *consoletest.Plant
	console *console.Console
	auth    *auth.Manager
	url     string
	token   string // a viewer machine's API token
	tr      *http.Transport
}

// Users of every env; each has the password "pw-" + name.
var testUsers = []auth.User{
	{Name: "vera", Role: auth.Viewer},
	{Name: "otto", Role: auth.Operator},
	{Name: "emma", Role: auth.Engineer},
	{Name: "adam", Role: auth.Admin},
	{Name: "mallory", Role: auth.Admin, Tenant: "other"},
}

var hashes = map[string]string{}

func passwordHash(t testing.TB, name string) string {
	if h, ok := hashes[name]; ok {
		return h
	}
	h, err := auth.HashPassword("pw-" + name)
	if err != nil {
		t.Fatal(err)
	}
	hashes[name] = h
	return h
}

func newEnv(t *testing.T, cfg console.Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, consoletest.Config{}, nil)
}

// newEnvWith is newEnv with a plant's settings and, when wrap is not
// nil, the plant's Backend wrapped.
func newEnvWith(t testing.TB, cfg console.Config, pc consoletest.Config, wrap func(console.Backend) console.Backend) *env {
	t.Helper()
	ctx := context.Background()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections) // last: after the server has stopped
	plant, err := consoletest.Start(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plant.Close() })
	users, _ := auth.OpenFile("")
	for _, u := range testUsers {
		u.PasswordHash = passwordHash(t, u.Name)
		if err := users.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	token := auth.NewToken()
	am, err := auth.New(auth.Config{Tokens: []auth.Token{{Name: "scada", Role: auth.Viewer, SHA256: auth.HashToken(token)}}}, users)
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := console.OpenDocs("")
	var backend console.Backend = plant.Backend
	if wrap != nil {
		backend = wrap(backend)
	}
	c, err := console.New(cfg, backend, am, docs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, c)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx) }()
	t.Cleanup(func() {
		_ = c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e := &env{t: t, plant: plant, console: c, auth: am, url: srv.URL(), token: token, tr: tr}
	e.waitGood("Line1.Kiln.Zone1.Temp")
	return e
}

// waitGood waits until the poller has read the tag with good quality.
func (e *env) waitGood(tag string) {
	e.t.Helper()
	e.eventually("tag "+tag+" good", func() bool {
		ss, err := e.plant.Backend.Latest(context.Background(), []string{tag})
		return err == nil && ss[0].Quality.IsGood()
	})
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like client: a cookie jar and the session's CSRF
// token.
type client struct {
	e    *env
	http *http.Client
	csrf string
	// origin is sent as Origin on state-changing requests.
	origin string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, Transport: e.tr}, origin: e.url}
}

func (e *env) login(name string) *client {
	e.t.Helper()
	c := e.anon()
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/login", map[string]string{"user": name, "password": "pw-" + name}, &s); code != 200 {
		e.t.Fatalf("login %s: %d", name, code)
	}
	c.csrf = s.CSRF
	return c
}

// do sends a request with a JSON body (a string is sent as is) and
// decodes a JSON answer into out; it returns the status.
func (c *client) do(method, path string, body, out any) int {
	c.e.t.Helper()
	code, data := c.raw(method, path, body, nil)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.e.t.Fatalf("%s %s: %d %s: %v", method, path, code, data, err)
		}
	}
	return code
}

func (c *client) raw(method, path string, body any, hdr map[string]string) (int, []byte) {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.e.url+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" {
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.csrf != "" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

type apiErr struct {
	Code, Message, Field string
}

func realValue(f float64) plc.Value { return plc.FloatValue(plc.Real, f) }

type httpCookie = http.Cookie

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
