package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/plc"
)

// Defaults of Config.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxBody      = 1 << 20
	DefaultTitle        = "kiln console"
)

// Config are the console's settings. The zero value means the defaults.
type Config struct {
	// Title is shown in the page's header (default "kiln console").
	Title string `yaml:"title"`
	// WriteTimeout bounds one write, read-back included; a write that
	// takes longer is reported timed out (default 10s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxBody bounds request bodies in bytes; larger ones get 413
	// (default 1 MiB).
	MaxBody int64 `yaml:"max_body"`
	// SecureCookie marks the session cookie Secure even for plain-HTTP
	// requests, for a console behind a TLS-terminating proxy. Requests
	// that arrive over TLS get a Secure cookie anyway.
	SecureCookie bool `yaml:"secure_cookie"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.WriteTimeout < 0 {
		p.Add("write_timeout", "%s is negative", c.WriteTimeout)
	}
	if c.MaxBody < 0 {
		p.Add("max_body", "%d is negative", c.MaxBody)
	}
	return p.Err()
}

// Option sets a code-only setting of a Console.
type Option func(*Console)

// WithLogger sets the logger (default none).
func WithLogger(l *zap.Logger) Option { return func(c *Console) { c.log = l } }

// WithClock sets the clock (default the system clock).
func WithClock(clk clock.Clock) Option { return func(c *Console) { c.clk = clk } }

// User is who makes a request, as the console authenticated them.
type User struct {
	Name   string
	Role   auth.Role
	Tenant string
	// Channel is "console" for a browser session, "api" for a token.
	Channel string
}

type userKey struct{}

// UserFrom returns the user of a request's context, as the console puts
// it into every Backend call.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// WithUser returns a context carrying u and its plc.Principal, as the
// console passes to every Backend call; for tests and for code that calls
// a Backend on a user's behalf.
func WithUser(ctx context.Context, u User) context.Context {
	ctx = context.WithValue(ctx, userKey{}, u)
	return plc.WithPrincipal(ctx, plc.Principal{Who: u.Name, Tenant: u.Tenant})
}

// Console is the web UI and its HTTP API over a Backend. It is an
// http.Handler; mount it at the root of a server (httpserve.Listen).
type Console struct {
	cfg     Config
	backend Backend
	auth    *auth.Manager
	docs    Docs
	log     *zap.Logger
	clk     clock.Clock
	mux     *http.ServeMux
	routes  []route
	assets  *assetSet

	// streams end when done is closed (Close).
	done      chan struct{}
	closeOnce sync.Once
	streams   sync.WaitGroup
}

// The session cookie and the CSRF header.
const (
	sessionCookie = "kiln_session"
	csrfHeader    = "X-CSRF-Token"
)

// New returns a console serving backend, with users and sessions from am
// and dashboards and recipes in docs.
func New(cfg Config, backend Backend, am *auth.Manager, docs Docs, opts ...Option) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if backend == nil || am == nil || docs == nil {
		return nil, errors.New("console: New needs a backend, an auth manager and a document store")
	}
	if cfg.Title == "" {
		cfg.Title = DefaultTitle
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	c := &Console{cfg: cfg, backend: backend, auth: am, docs: docs, log: zap.NewNop(), mux: http.NewServeMux(), done: make(chan struct{})}
	for _, o := range opts {
		o(c)
	}
	c.clk = clock.Or(c.clk)
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	c.assets = a
	c.routes = c.apiRoutes()
	for _, rt := range c.routes {
		c.mux.HandleFunc(rt.Method+" "+rt.Path, c.wrap(rt))
	}
	// Unknown API routes and methods answer JSON like every other error.
	paths := http.NewServeMux()
	seen := map[string]bool{}
	for _, rt := range c.routes {
		if !seen[rt.Path] {
			seen[rt.Path] = true
			paths.Handle(rt.Path, http.NotFoundHandler())
		}
	}
	c.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			writeError(w, errf(http.StatusMethodNotAllowed, "method_not_allowed", "", "%s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, errf(http.StatusNotFound, "not_found", "", "no API route %s", r.URL.Path))
	})
	c.mux.HandleFunc("GET /{$}", c.serveIndex)
	c.mux.HandleFunc("GET /assets/{name}", c.serveAsset)
	return c, nil
}

// ServeHTTP serves the page, its assets and the API.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.mux.ServeHTTP(w, r)
}

// Close ends the live streams and waits for them, so that a server's
// graceful shutdown is not held up by them. It is idempotent.
func (c *Console) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	c.streams.Wait()
	return nil
}

// route is one API operation. Role is the lowest role allowed; RoleNone
// means no authentication.
type route struct {
	Method, Path string
	Role         auth.Role
	Handle       func(w http.ResponseWriter, r *http.Request, u User) *apiError
}

// Routes returns the API's operations as "METHOD /path", in the order
// registered, for documentation and tests.
func (c *Console) Routes() []string {
	out := make([]string, len(c.routes))
	for i, rt := range c.routes {
		out[i] = rt.Method + " " + rt.Path
	}
	return out
}

func (c *Console) wrap(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				c.log.Error("console: handler panicked", zap.String("route", rt.Method+" "+rt.Path), zap.Any("panic", p), zap.Stack("stack"))
				writeError(w, errf(http.StatusInternalServerError, "internal", "", "internal error"))
			}
		}()
		var u User
		if rt.Role != auth.RoleNone {
			var e *apiError
			if u, e = c.authenticate(r); e != nil {
				writeError(w, e)
				return
			}
			if !u.Role.AtLeast(rt.Role) {
				writeError(w, errf(http.StatusForbidden, "forbidden", "", "%s needs the %s role; you are %s", rt.Method+" "+rt.Path, rt.Role, u.Role))
				return
			}
			r = r.WithContext(WithUser(r.Context(), u))
		} else if stateChanging(r.Method) && !sameOrigin(r) {
			writeError(w, errf(http.StatusForbidden, "bad_origin", "", "request from another origin refused"))
			return
		}
		if r.Method == http.MethodGet && rt.Path != "/api/stream" && acceptsEncoding(r.Header.Get("Accept-Encoding"), "gzip") {
			gw := &gzipWriter{ResponseWriter: w}
			defer gw.finish()
			w = gw
		}
		if e := rt.Handle(w, r, u); e != nil {
			writeError(w, e)
		}
	}
}

func stateChanging(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sameOrigin reports whether the request's Origin, when it has one, is
// this server. Browsers send Origin on every cross-site and every
// state-changing request.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// authenticate finds the request's user: a bearer token, or a session
// cookie whose state-changing requests carry the session's CSRF token and
// come from this origin.
func (c *Console) authenticate(r *http.Request) (User, *apiError) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		m, valid := c.auth.Token(strings.TrimSpace(tok))
		if !ok || !valid {
			return User{}, errf(http.StatusUnauthorized, "unauthenticated", "", "invalid API token")
		}
		return User{Name: m.Name, Role: m.Role, Tenant: m.Tenant, Channel: "api"}, nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return User{}, errf(http.StatusUnauthorized, "unauthenticated", "", "log in first")
	}
	s, ok := c.auth.Session(r.Context(), ck.Value)
	if !ok {
		return User{}, errf(http.StatusUnauthorized, "unauthenticated", "", "session ended: log in again")
	}
	if stateChanging(r.Method) {
		if !sameOrigin(r) {
			return User{}, errf(http.StatusForbidden, "bad_origin", "", "request from another origin refused")
		}
		if t := r.Header.Get(csrfHeader); t == "" || subtle.ConstantTimeCompare([]byte(t), []byte(s.CSRF)) != 1 {
			return User{}, errf(http.StatusForbidden, "csrf", csrfHeader, "missing or wrong CSRF token")
		}
	}
	return User{Name: s.User, Role: s.Role, Tenant: s.Tenant, Channel: "console"}, nil
}

// body reads a JSON request body, bounded by MaxBody.
func (c *Console) body(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, errf(http.StatusUnsupportedMediaType, "bad_content_type", "", "want Content-Type application/json, got %q", ct)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.cfg.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errf(http.StatusRequestEntityTooLarge, "too_large", "", "body over %d bytes", mbe.Limit)
	case err != nil:
		return nil, errf(http.StatusBadRequest, "bad_body", "", "cannot read the body: %v", err)
	}
	return data, nil
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func (c *Console) record(ctx context.Context, e AuditEntry) {
	if e.Time.IsZero() {
		e.Time = c.clk.Now()
	}
	if err := c.backend.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		c.log.Error("console: audit record not stored", zap.String("action", e.Action), zap.Error(err))
	}
}

// backendError maps a failed Backend call to an answer.
func backendError(what string, err error) *apiError {
	switch {
	case errors.Is(err, ErrForbidden):
		return errf(http.StatusForbidden, "forbidden", "", "%s: %v", what, err)
	case errors.Is(err, plc.ErrUnknownTag):
		return errf(http.StatusNotFound, "unknown_tag", "tag", "%s: %v", what, err)
	case errors.Is(err, context.DeadlineExceeded):
		return errf(http.StatusGatewayTimeout, "timeout", "", "%s: timed out", what)
	}
	return errf(http.StatusBadGateway, "backend", "", "%s: %v", what, err)
}
