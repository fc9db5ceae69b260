package opcua

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/reconnect"
)

// Config is how to reach one OPC UA server. Zero fields take the
// documented defaults; only Endpoint is required.
type Config struct {
	// Endpoint is the server URL, opc.tcp://HOST:PORT[/PATH].
	Endpoint string `yaml:"endpoint"`
	// SecurityPolicy is "None" (default) or "Basic256Sha256".
	SecurityPolicy string `yaml:"security_policy"`
	// SecurityMode is "None", "Sign" or "SignAndEncrypt"; the default is
	// None for the None policy and SignAndEncrypt otherwise.
	SecurityMode string `yaml:"security_mode"`
	// CertFile and KeyFile hold the client's application instance
	// certificate (DER or PEM) and RSA key (PEM) for the Basic256Sha256
	// policy. When neither file exists, a self-signed pair is generated and
	// stored there on first use. Default: client-cert.der and
	// client-key.pem in <user config dir>/kiln/opcua.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ApplicationURI identifies the client; it is written into a generated
	// certificate (default "urn:kiln:opcua:client").
	ApplicationURI string `yaml:"application_uri"`
	// TrustedCerts, when set, is a certificate file (DER or PEM) or a
	// directory of them (.der, .cer, .crt, .pem): the trust list. The
	// server's certificate must be one of them or be issued by one, or
	// the connection is refused with ErrUntrustedServer. The list is read
	// at New and again at every connect. Empty (default): the server's
	// certificate is taken from its endpoint description unchecked. With
	// policy None the channel is not secured; the check then only guards
	// the certificate a password is encrypted for.
	TrustedCerts string `yaml:"trusted_certs"`
	// Username and Password select the UserName identity; empty Username
	// means Anonymous.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// RequestTimeout bounds every service call and the dial (default 10s).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// SessionTimeout is the session lifetime asked of the server (default
	// 1m).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// KeepAlive is how often the client reads the server state to find a
	// silently dead connection, wakes a stalled publish loop (see the
	// package doc) and retries monitored items that failed (default 5s).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// Retry shapes the delays between reconnect attempts (defaults of
	// package backoff: 100ms growing to 30s, with jitter).
	Retry backoff.Config `yaml:"retry"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (endpoint, retry.multiplier).
func (c Config) Validate() error {
	var p config.Problems
	if c.Endpoint == "" {
		p.Add("endpoint", "is required (opc.tcp://HOST:PORT[/PATH])")
	} else if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "opc.tcp" || u.Host == "" {
		p.Add("endpoint", "%q is not an address such as opc.tcp://HOST:PORT[/PATH]", c.Endpoint)
	}
	if _, err := c.policyURI(); err != nil {
		p.Add("security_policy", "%q is not None or Basic256Sha256", c.SecurityPolicy)
	} else if _, err := c.mode(); err != nil {
		p.Add("security_mode", "%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"request_timeout", c.RequestTimeout}, {"session_timeout", c.SessionTimeout}, {"keep_alive", c.KeepAlive}} {
		if d.v < 0 {
			p.Add(d.name, "%v is negative", d.v)
		}
	}
	if c.Password != "" && c.Username == "" {
		p.Add("password", "is set without a username")
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.ApplicationURI == "" {
		c.ApplicationURI = "urn:kiln:opcua:client"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = time.Minute
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 5 * time.Second
	}
	if c.CertFile == "" || c.KeyFile == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			dir = os.TempDir()
		}
		dir = filepath.Join(dir, "kiln", "opcua")
		if c.CertFile == "" {
			c.CertFile = filepath.Join(dir, "client-cert.der")
		}
		if c.KeyFile == "" {
			c.KeyFile = filepath.Join(dir, "client-key.pem")
		}
	}
	return c
}

func (c Config) policyURI() (string, error) {
	switch strings.ToLower(c.SecurityPolicy) {
	case "", "none":
		return ua.SecurityPolicyURINone, nil
	case "basic256sha256":
		return ua.SecurityPolicyURIBasic256Sha256, nil
	}
	return "", fmt.Errorf("opcua: security policy %q is not None or Basic256Sha256", c.SecurityPolicy)
}

func (c Config) mode() (ua.MessageSecurityMode, error) {
	pol, _ := c.policyURI()
	var m ua.MessageSecurityMode
	switch strings.ToLower(c.SecurityMode) {
	case "":
		if pol == ua.SecurityPolicyURINone {
			return ua.MessageSecurityModeNone, nil
		}
		return ua.MessageSecurityModeSignAndEncrypt, nil
	case "none":
		m = ua.MessageSecurityModeNone
	case "sign":
		m = ua.MessageSecurityModeSign
	case "signandencrypt":
		m = ua.MessageSecurityModeSignAndEncrypt
	default:
		return 0, fmt.Errorf("%q is not None, Sign or SignAndEncrypt", c.SecurityMode)
	}
	if (m == ua.MessageSecurityModeNone) != (pol == ua.SecurityPolicyURINone) {
		return 0, fmt.Errorf("%q does not go with security_policy %q", c.SecurityMode, c.SecurityPolicy)
	}
	return m, nil
}

// Option sets a code-only setting of a Client.
type Option func(*options)

type options struct {
	log    *zap.Logger
	reg    prometheus.Registerer
	clock  clock.Clock
	events func(reconnect.Event)
}

// WithLogger logs connection changes, reconnects and subscription
// recreation through l.
func WithLogger(l *zap.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithRegisterer registers the client's Prometheus collectors with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithClock sets the clock that times reconnect delays, sessions and
// keep-alive reads (default: the system clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEvents calls h with the session events (connected, lost with the
// cause, retrying in with the failed attempt's error), in order; h must
// not block.
func WithEvents(h func(reconnect.Event)) Option { return func(o *options) { o.events = h } }
