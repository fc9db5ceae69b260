package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
)

// Defaults of Config.
const (
	DefaultShutdownTimeout   = 5 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
)

var (
	// ErrServing is returned by Serve while another Serve runs.
	ErrServing = errors.New("httpserve: already serving")
	// ErrClosed is returned by Serve after Close.
	ErrClosed = errors.New("httpserve: closed")
	// ErrShutdownTimeout is returned by Serve when requests were still in
	// flight at the end of Config.ShutdownTimeout; their connections were
	// closed.
	ErrShutdownTimeout = errors.New("httpserve: requests still in flight at shutdown timeout")
)

// Config is the listener of a service's HTTP server.
type Config struct {
	// Listen is the host:port to bind, such as "127.0.0.1:8080" or
	// ":8080"; a port of 0 picks a free one. Required.
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds the graceful shutdown (default 5s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadHeaderTimeout bounds the reading of a request's headers
	// (default 10s), against clients that open connections and stall.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.Listen == "" {
		p.Add("listen", "is required (host:port, such as 127.0.0.1:8080)")
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.Add("listen", "%q is not a host:port address such as 127.0.0.1:8080", c.Listen)
	}
	if c.ShutdownTimeout < 0 {
		p.Add("shutdown_timeout", "%s is negative", c.ShutdownTimeout)
	}
	if c.ReadHeaderTimeout < 0 {
		p.Add("read_header_timeout", "%s is negative", c.ReadHeaderTimeout)
	}
	return p.Err()
}

// Option sets a code-only setting of Listen.
type Option func(*options)

type options struct {
	log *zap.Logger
	tls *tls.Config
}

// WithLogger logs the server's start, stop and errors (default: none).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithTLS serves HTTPS with cfg (its certificates set).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// Server is a bound HTTP server. Make one with Listen. Serve may be
// called again after it returned (a supervisor restarting it): it binds
// the same address again.
type Server struct {
	cfg  Config
	log  *zap.Logger
	h    http.Handler
	tls  *tls.Config
	addr net.Addr // the address bound first, kept across restarts

	mu      sync.Mutex
	ln      net.Listener // bound and not yet served; nil once a Serve ended
	srv     *http.Server
	serving bool
	closed  bool
	done    chan struct{} // closed when the running Serve returns
}

// Listen validates cfg and binds its address, serving h once Serve is
// called.
func Listen(cfg Config, h http.Handler, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("httpserve: listen on %s: %w", cfg.Listen, err)
	}
	return &Server{cfg: cfg, log: o.log, h: h, tls: o.tls, addr: ln.Addr(), ln: ln}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.addr }

// URL returns the server's base URL, such as "http://127.0.0.1:8080".
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.addr.String()
	}
	return "http://" + s.addr.String()
}

// Serve serves until ctx ends, then shuts down gracefully. It returns nil
// after a clean shutdown, ErrShutdownTimeout when requests outlived
// Config.ShutdownTimeout, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.serving:
		s.mu.Unlock()
		return ErrServing
	}
	ln := s.ln
	if ln == nil { // a restart: the last Serve's shutdown closed the listener
		var err error
		if ln, err = net.Listen("tcp", s.addr.String()); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("httpserve: listen on %s again: %w", s.addr, err)
		}
	}
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, TLSConfig: s.tls, ErrorLog: zap.NewStdLog(s.log.Named("http"))}
	s.ln, s.srv, s.serving, s.done = ln, srv, true, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.ln, s.serving = nil, false
		s.mu.Unlock()
		close(done)
	}()

	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("http: serving", zap.String("url", s.URL()))
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return ErrClosed // Close ended it
		}
		return fmt.Errorf("httpserve: serving %s: %w", s.addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		_ = srv.Close()
		s.log.Warn("http: requests still in flight at shutdown timeout", zap.Duration("timeout", s.cfg.ShutdownTimeout))
		return ErrShutdownTimeout
	}
	s.log.Info("http: stopped")
	return nil
}

// Close closes the server at once: its listener and every connection,
// and waits for a running Serve to return. Serve fails with ErrClosed
// afterwards. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ln, srv, done, serving := s.ln, s.srv, s.done, s.serving
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	if ln != nil {
		_ = ln.Close()
	}
	if serving {
		<-done
	}
	return nil
}
