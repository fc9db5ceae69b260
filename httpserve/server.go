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
	// ErrServing is returned by a second call of Serve.
	ErrServing = errors.New("httpserve: already serving")
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

// Server is a bound HTTP server. Make one with Listen.
type Server struct {
	cfg  Config
	log  *zap.Logger
	ln   net.Listener
	srv  *http.Server
	tls  bool
	mu   sync.Mutex
	used bool // Serve was called, or Close before it
	done chan struct{}
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
	s := &Server{
		cfg:  cfg,
		log:  o.log,
		ln:   ln,
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: cfg.ReadHeaderTimeout, TLSConfig: o.tls, ErrorLog: zap.NewStdLog(o.log.Named("http"))},
		tls:  o.tls != nil,
		done: make(chan struct{}),
	}
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the server's base URL, such as "http://127.0.0.1:8080".
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully. It returns nil
// after a clean shutdown, ErrShutdownTimeout when requests outlived
// Config.ShutdownTimeout, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.used {
		s.mu.Unlock()
		return ErrServing
	}
	s.used = true
	s.mu.Unlock()
	defer close(s.done)

	errc := make(chan error, 1)
	go func() {
		if s.tls {
			errc <- s.srv.ServeTLS(s.ln, "", "")
		} else {
			errc <- s.srv.Serve(s.ln)
		}
	}()
	s.log.Info("http: serving", zap.String("url", s.URL()))
	select {
	case err := <-errc:
		return fmt.Errorf("httpserve: serving %s: %w", s.cfg.Listen, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	<-errc
	if err != nil {
		_ = s.srv.Close()
		s.log.Warn("http: requests still in flight at shutdown timeout", zap.Duration("timeout", s.cfg.ShutdownTimeout))
		return ErrShutdownTimeout
	}
	s.log.Info("http: stopped")
	return nil
}

// Close closes the server at once: its listener and every connection. It
// waits for a running Serve to return, and is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	serving := s.used
	s.used = true
	s.mu.Unlock()
	_ = s.srv.Close()
	_ = s.ln.Close()
	if serving {
		<-s.done
	}
	return nil
}
