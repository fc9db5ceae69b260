package supervise

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// HTTPCheckConfig describes an HTTP probe of a service the supervisor does
// not own (a container, a system service). Zero fields take the defaults.
type HTTPCheckConfig struct {
	// URL is probed with GET; a status in 200..399 is a success.
	URL string `yaml:"url"`
	// Period is the wait between probes (default 10s).
	Period time.Duration `yaml:"period"`
	// Timeout bounds one probe (default 1s).
	Timeout time.Duration `yaml:"timeout"`
	// FailureThreshold is how many failures in a row fire the restart
	// hook (default 3).
	FailureThreshold int `yaml:"failure_threshold"`
	// Grace is the wait after the restart hook before probing again
	// (default 30s), for the service to come up.
	Grace time.Duration `yaml:"grace"`
}

// Validate reports every bad field of c, each a *config.FieldError with
// its YAML key.
func (c HTTPCheckConfig) Validate() error {
	var p config.Problems
	if u, err := url.Parse(c.URL); c.URL == "" {
		p.Add("url", "is required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("url", "%q is not an http:// or https:// URL", c.URL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"period", c.Period}, {"timeout", c.Timeout}, {"grace", c.Grace}} {
		if d.v < 0 {
			p.Add(d.name, "%v is negative", d.v)
		}
	}
	if c.FailureThreshold < 0 {
		p.Add("failure_threshold", "%d is negative", c.FailureThreshold)
	}
	return p.Err()
}

// HTTPCheck is a Service that probes a URL and calls a restart hook when
// FailureThreshold probes in a row failed. A hook error ends Serve with
// that error, so the check's own supervisor counts it (and escalates if
// the service cannot be brought back). Time runs on the clock of the
// supervisor running the check.
type HTTPCheck struct {
	cfg     HTTPCheckConfig
	restart func(ctx context.Context) error
	client  *http.Client
}

// HTTPCheckOption sets a code-only setting of an HTTPCheck.
type HTTPCheckOption func(*HTTPCheck)

// WithHTTPClient probes with c (default: a client with the check's
// Timeout and no keep-alive).
func WithHTTPClient(c *http.Client) HTTPCheckOption { return func(h *HTTPCheck) { h.client = c } }

// NewHTTPCheck returns a check of cfg.URL that calls restart on failure.
func NewHTTPCheck(cfg HTTPCheckConfig, restart func(ctx context.Context) error, opts ...HTTPCheckOption) (*HTTPCheck, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if restart == nil {
		return nil, fmt.Errorf("%w: http check %s: restart hook is nil", ErrInvalid, cfg.URL)
	}
	if cfg.Period == 0 {
		cfg.Period = 10 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.FailureThreshold == 0 {
		cfg.FailureThreshold = 3
	}
	if cfg.Grace == 0 {
		cfg.Grace = 30 * time.Second
	}
	h := &HTTPCheck{cfg: cfg, restart: restart}
	for _, o := range opts {
		o(h)
	}
	if h.client == nil {
		// One connection per probe, as Kubernetes probes do: nothing
		// lingers between probes or after Serve.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		h.client = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	}
	return h, nil
}

// Serve probes until ctx is cancelled or the restart hook fails.
func (h *HTTPCheck) Serve(ctx context.Context) error {
	log := Logger(ctx).With(zap.String("url", h.cfg.URL))
	clk := clock.Real
	if i := infoOf(ctx); i != nil {
		clk = i.l.clock
	}
	sleep := func(d time.Duration) bool {
		t := clk.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		}
	}
	fails := 0
	for {
		err := h.probe(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := h.cfg.Period
		if err == nil {
			if fails > 0 {
				log.Info("http check recovered", zap.Int("failures", fails))
			}
			fails = 0
		} else {
			fails++
			log.Warn("http check failed", zap.Int("failures", fails), zap.Error(err))
			if fails >= h.cfg.FailureThreshold {
				log.Warn("http check calling restart hook")
				if herr := h.restart(ctx); herr != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return fmt.Errorf("supervise: http check %s: restart hook: %w", h.cfg.URL, herr)
				}
				fails, wait = 0, h.cfg.Grace
			}
		}
		Beat(ctx)
		if !sleep(wait) {
			return ctx.Err()
		}
	}
}

func (h *HTTPCheck) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
