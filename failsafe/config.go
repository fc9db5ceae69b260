package failsafe

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/spool"
)

// Defaults of the configuration.
const (
	DefaultListen           = "127.0.0.1:8090"
	DefaultHeartbeatPeriod  = time.Second
	DefaultHeartbeatTimeout = 5 * time.Second
	DefaultEnvelopePeriod   = time.Second
	DefaultStable           = 30 * time.Second
	DefaultProbePeriod      = 10 * time.Second
	DefaultIntensity        = 3
	DefaultIntensityPeriod  = time.Minute
)

// Heartbeat sources.
const (
	SourceTag   = "tag"
	SourceTopic = "topic"
	SourceHTTP  = "http"
)

// Config is the monitor's configuration file. The zero value of every
// field but Modules means its documented default.
type Config struct {
	// Listen is the address of the HTTP API and /metrics (default
	// 127.0.0.1:8090).
	Listen string `yaml:"listen"`
	// Points are the point database files (plc.Load) naming the PLC tags
	// the modules are watched and made safe through; relative paths are
	// taken from the configuration file's directory.
	Points []string `yaml:"points"`
	// Events says where status events go (default: an embedded spool in
	// ai-monitor-events next to the configuration file).
	Events EventsConfig `yaml:"events"`
	// Heartbeats is the transport subscription heartbeat topics are read
	// from; needed only by modules whose heartbeat source is "topic".
	Heartbeats *pulsar.SubscriberConfig `yaml:"heartbeats"`
	// Modules are the AI modules to supervise.
	Modules []ModuleConfig `yaml:"modules"`

	file string
	doc  *config.Document // where each field was written; nil for a Config made by code
}

// EventsConfig selects the transport status events are published on: the
// embedded spool (default) or Pulsar.
type EventsConfig struct {
	Spool  *spool.Config           `yaml:"spool"`
	Pulsar *pulsar.PublisherConfig `yaml:"pulsar"`
}

// ModuleConfig is one AI module: how it runs, how its health is judged and
// how the plant is made safe when it fails.
type ModuleConfig struct {
	// Name identifies the module in the API, metrics, logs and events.
	Name string `yaml:"name"`
	// Process is a program the monitor runs (one of Process and Service).
	Process *supervise.ProcessConfig `yaml:"process"`
	// Service is an HTTP service the monitor only probes.
	Service *ServiceConfig `yaml:"service"`
	// Liveness restarts the module after FailureThreshold failed probes in
	// a row; for a Service it defaults to probing the service's URL.
	Liveness *ProbeConfig `yaml:"liveness"`
	// Readiness holds hand-back back while the module is not ready.
	Readiness *ProbeConfig `yaml:"readiness"`
	// Heartbeat is the module's watchdog.
	Heartbeat *HeartbeatConfig `yaml:"heartbeat"`
	// Envelope bounds the setpoints the module writes.
	Envelope *EnvelopeConfig `yaml:"envelope"`
	// Restart is the module's own supervisor: its restart intensity and
	// backoff. Past the intensity the module is declared failed and stays
	// down until an operator resets it.
	Restart RestartConfig `yaml:"restart"`
	// FailSafe is what the monitor writes when the module fails and how
	// control is handed back.
	FailSafe FailSafeConfig `yaml:"fail_safe"`
}

// ServiceConfig is an HTTP service the monitor does not run.
type ServiceConfig struct {
	// URL is probed with GET.
	URL string `yaml:"url"`
	// ExpectStatus is the status a healthy service answers (default 200).
	ExpectStatus int `yaml:"expect_status"`
}

// ProbeConfig is an HTTP probe of a module.
type ProbeConfig struct {
	// URL is probed with GET (default: the service's URL).
	URL string `yaml:"url"`
	// ExpectStatus is the healthy answer (default 200).
	ExpectStatus int `yaml:"expect_status"`
	// InitialDelay, Period (default 10s), Timeout (default 1s),
	// FailureThreshold (default 3) and SuccessThreshold (default 1) have
	// Kubernetes' meaning.
	InitialDelay     time.Duration `yaml:"initial_delay"`
	Period           time.Duration `yaml:"period"`
	Timeout          time.Duration `yaml:"timeout"`
	FailureThreshold int           `yaml:"failure_threshold"`
	SuccessThreshold int           `yaml:"success_threshold"`
}

// HeartbeatConfig is a module's watchdog: a heartbeat it must give at
// least every Timeout.
type HeartbeatConfig struct {
	// Source is "tag" (a PLC tag the module changes, a counter say),
	// "topic" (messages keyed with Key on the heartbeat subscription) or
	// "http" (a successful GET of URL).
	Source string `yaml:"source"`
	// Tag is the heartbeat tag (source tag).
	Tag string `yaml:"tag"`
	// Key is the message key of the module's heartbeats (source topic;
	// default the module's name).
	Key string `yaml:"key"`
	// URL and ExpectStatus describe the probe (source http; default the
	// liveness probe's or the service's URL, status 200).
	URL          string `yaml:"url"`
	ExpectStatus int    `yaml:"expect_status"`
	// Period is how often the tag is read or the URL probed (default 1s).
	Period time.Duration `yaml:"period"`
	// Timeout is the watchdog deadline (default 5s).
	Timeout time.Duration `yaml:"timeout"`
}

// EnvelopeConfig bounds the module's output.
type EnvelopeConfig struct {
	// Period is how often the tags are read (default 1s).
	Period time.Duration `yaml:"period"`
	// Limits are the allowed ranges, in engineering units.
	Limits []LimitConfig `yaml:"limits"`
}

// LimitConfig is the allowed range of one tag; a missing bound is open.
type LimitConfig struct {
	Tag string   `yaml:"tag"`
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// RestartConfig is a module supervisor's restart policy.
type RestartConfig struct {
	// Intensity restarts within Period (default 3 in 1m) are allowed; one
	// more and the module is declared failed.
	Intensity int           `yaml:"intensity"`
	Period    time.Duration `yaml:"period"`
	// Retry spaces consecutive restarts.
	Retry backoff.Config `yaml:"retry"`
	// StableAfter is how long a run must last to reset the backoff
	// (default 10s).
	StableAfter time.Duration `yaml:"stable_after"`
}

// FailSafeConfig is a module's fail-safe plan.
type FailSafeConfig struct {
	// Write are the tags and safe values written (verified by read-back)
	// when the module is declared unhealthy, in order.
	Write []TagValue `yaml:"write"`
	// Retry spaces the attempts while the write fails (default 100ms
	// doubling to 30s, jitter 0.5).
	Retry backoff.Config `yaml:"retry"`
	// HandBack says when and how control returns to the module.
	HandBack HandBackConfig `yaml:"hand_back"`
}

// HandBackConfig says how control returns to a recovered module.
type HandBackConfig struct {
	// Stable is how long the module must be healthy before control is
	// handed back (default 30s).
	Stable time.Duration `yaml:"stable"`
	// ManualOnly leaves the plant on its fail-safe values until an
	// operator hands control back over the API.
	ManualOnly bool `yaml:"manual_only"`
	// Write are the tags written to give control back (the module's
	// enable tag, typically).
	Write []TagValue `yaml:"write"`
}

// TagValue is a tag and a value in engineering units, as text.
type TagValue struct {
	Tag   string `yaml:"tag"`
	Value string `yaml:"value"`
}

// ErrConfig is matched by every configuration error (errors.Is): it is
// config.ErrInvalid, which every *config.FieldError matches.
var ErrConfig = config.ErrInvalid

// Load reads and validates a configuration file.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("monitor: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a configuration in YAML and validates it; file names the
// source in errors. Every problem of the file (syntax, unknown fields,
// values of the wrong kind, bad settings) is reported at once, each a
// *config.FieldError with file, line and YAML path, joined.
func Parse(file string, data []byte) (Config, error) {
	cfg := Config{file: file}
	doc, err := config.DecodeYAML(file, data, &cfg)
	cfg.file, cfg.doc = file, doc
	return cfg, errors.Join(err, doc.Locate(errors.Join(cfg.Validate(), cfg.checkPoints())))
}

// checkPoints reports the point database files that are not there,
// naming the directory a relative name was looked for in.
func (c *Config) checkPoints() error {
	var p config.Problems
	dir := filepath.Dir(c.file)
	for i, f := range c.Points {
		at := fmt.Sprintf("points[%d]", i)
		switch {
		case f == "":
			p.Add(at, "is an empty file name")
		case filepath.IsAbs(f):
			if _, err := os.Stat(f); err != nil {
				p.Add(at, "%q is not there: %w", f, errors.Unwrap(err))
			}
		default:
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				p.Add(at, "%q is not in %s (a relative name is resolved against the configuration file's directory): %w", f, dir, errors.Unwrap(err))
			}
		}
	}
	return p.Err()
}

// errorf makes a *config.FieldError for the field at path, located at
// its line or its nearest parent's when c was read from a file.
func (c *Config) errorf(path, format string, args ...any) *config.FieldError {
	fe := config.Errorf(path, format, args...)
	if c.doc != nil {
		fe.File, fe.Line = c.file, c.doc.Line(path)
	}
	return fe
}

// locate sets the file and the line of every problem of err when c was
// read from a file.
func (c *Config) locate(err error) error {
	if c.doc == nil {
		return err
	}
	return config.Locate(err, c.file, c.doc.Line)
}

// Validate reports every problem of c that needs no point database.
func (c *Config) Validate() error {
	var p config.Problems
	if c.Events.Spool != nil && c.Events.Pulsar != nil {
		p.Add("events", "give spool or pulsar, not both")
	}
	if c.Events.Spool != nil {
		// As it will run: the directory defaults to one next to the file.
		sc := *c.Events.Spool
		if sc.Dir == "" {
			sc.Dir = filepath.Join(filepath.Dir(c.file), "ai-monitor-events")
		}
		p.Nest("events.spool", sc.Validate())
	}
	if c.Events.Pulsar != nil {
		p.Nest("events.pulsar", c.Events.Pulsar.Validate())
	}
	if c.Heartbeats != nil {
		p.Nest("heartbeats", c.Heartbeats.Validate())
	}
	if len(c.Modules) == 0 {
		p.Add("modules", "is required: at least one module")
	}
	seen := map[string]bool{}
	for i := range c.Modules {
		m := &c.Modules[i]
		at := fmt.Sprintf("modules[%d]", i)
		switch {
		case m.Name == "":
			p.Add(at+".name", "is required")
		case strings.ContainsAny(m.Name, "/ \t"):
			p.Add(at+".name", "%q has a '/' or spaces", m.Name)
		case seen[m.Name]:
			p.Add(at+".name", "%q is used twice", m.Name)
		}
		seen[m.Name] = true
		switch {
		case m.Process == nil && m.Service == nil:
			p.Add(at, "give process or service")
		case m.Process != nil && m.Service != nil:
			p.Add(at, "give process or service, not both")
		case m.Process != nil:
			p.Nest(at+".process", m.Process.Validate())
		case m.Service != nil:
			if err := checkURL(m.Service.URL); err != nil {
				p.Add(at+".service.url", "%v", err)
			}
			if err := checkStatus(m.Service.ExpectStatus); err != nil {
				p.Add(at+".service.expect_status", "%v", err)
			}
		}
		validateProbe(&p, at+".liveness", m.Liveness, m.Service)
		validateProbe(&p, at+".readiness", m.Readiness, m.Service)
		if h := m.Heartbeat; h != nil {
			hp := at + ".heartbeat"
			switch h.Source {
			case SourceTag:
				if h.Tag == "" {
					p.Add(hp+".tag", "missing for source tag")
				}
			case SourceTopic:
			case SourceHTTP:
				if h.URL != "" {
					if err := checkURL(h.URL); err != nil {
						p.Add(hp+".url", "%v", err)
					}
				} else if heartbeatURL(m) == "" {
					p.Add(hp+".url", "missing, and no liveness probe or service URL to take")
				}
				if err := checkStatus(h.ExpectStatus); err != nil {
					p.Add(hp+".expect_status", "%v", err)
				}
			default:
				p.Add(hp+".source", "%q: want tag, topic or http", h.Source)
			}
			if h.Period < 0 {
				p.Add(hp+".period", "%v is negative", h.Period)
			}
			if h.Timeout < 0 {
				p.Add(hp+".timeout", "%v is negative", h.Timeout)
			}
			if h.Timeout > 0 && h.Timeout <= h.period() {
				p.Add(hp+".timeout", "%v must be longer than the period %v", h.Timeout, h.period())
			}
		}
		if e := m.Envelope; e != nil {
			if e.Period < 0 {
				p.Add(at+".envelope.period", "%v is negative", e.Period)
			}
			if len(e.Limits) == 0 {
				p.Add(at+".envelope.limits", "no limits")
			}
			for j, l := range e.Limits {
				lp := fmt.Sprintf("%s.envelope.limits[%d]", at, j)
				if l.Tag == "" {
					p.Add(lp+".tag", "is required")
				}
				if l.Min == nil && l.Max == nil {
					p.Add(lp, "give min, max or both")
				}
				if l.Min != nil && l.Max != nil && *l.Min > *l.Max {
					p.Add(lp+".min", "%g above max %g", *l.Min, *l.Max)
				}
			}
		}
		rc := m.Restart.supervisor(m.Name)
		rc.Name = "" // the module's name, checked above
		p.Nest(at+".restart", rc.Validate())
		fs := &m.FailSafe
		if len(fs.Write) == 0 {
			p.Add(at+".fail_safe.write", "no fail-safe tags")
		}
		for j, w := range fs.Write {
			if w.Tag == "" {
				p.Add(fmt.Sprintf("%s.fail_safe.write[%d].tag", at, j), "is required")
			}
		}
		for j, w := range fs.HandBack.Write {
			if w.Tag == "" {
				p.Add(fmt.Sprintf("%s.fail_safe.hand_back.write[%d].tag", at, j), "is required")
			}
		}
		if fs.HandBack.Stable < 0 {
			p.Add(at+".fail_safe.hand_back.stable", "%v is negative", fs.HandBack.Stable)
		}
		p.Nest(at+".fail_safe.retry", fs.Retry.Validate())
	}
	return c.locate(p.Err())
}

func validateProbe(p *config.Problems, path string, pc *ProbeConfig, svc *ServiceConfig) {
	if pc == nil {
		return
	}
	if pc.URL == "" && svc == nil {
		p.Add(path+".url", "is required (no service URL to take)")
	} else if pc.URL != "" {
		if err := checkURL(pc.URL); err != nil {
			p.Add(path+".url", "%v", err)
		}
	}
	if err := checkStatus(pc.ExpectStatus); err != nil {
		p.Add(path+".expect_status", "%v", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"initial_delay", pc.InitialDelay}, {"period", pc.Period}, {"timeout", pc.Timeout}} {
		if d.v < 0 {
			p.Add(path+"."+d.name, "%v is negative", d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"failure_threshold", pc.FailureThreshold}, {"success_threshold", pc.SuccessThreshold}} {
		if n.v < 0 {
			p.Add(path+"."+n.name, "%d is negative", n.v)
		}
	}
}

// Check validates the tags c names against a point database: every tag
// exists, fail-safe and hand-back tags are writable and their values
// parse for the tag's type.
func (c *Config) Check(db *plc.PointDB) error {
	var pr config.Problems
	for i, m := range c.Modules {
		p := fmt.Sprintf("modules[%d]", i)
		if h := m.Heartbeat; h != nil && h.Source == SourceTag && h.Tag != "" {
			if _, ok := db.Tag(h.Tag); !ok {
				pr.Add(p+".heartbeat.tag", "unknown tag %q", h.Tag)
			}
		}
		if e := m.Envelope; e != nil {
			for j, l := range e.Limits {
				if _, ok := db.Tag(l.Tag); !ok && l.Tag != "" {
					pr.Add(fmt.Sprintf("%s.envelope.limits[%d].tag", p, j), "unknown tag %q", l.Tag)
				}
			}
		}
		check := func(path string, ws []TagValue) {
			for j, w := range ws {
				wp := fmt.Sprintf("%s[%d]", path, j)
				if w.Tag == "" {
					continue
				}
				t, ok := db.Tag(w.Tag)
				switch {
				case !ok:
					pr.Add(wp+".tag", "unknown tag %q", w.Tag)
				case !t.Writable():
					pr.Add(wp+".tag", "tag %q is read-only", w.Tag)
				default:
					if _, err := parseFor(t, w.Value); err != nil {
						pr.Add(wp+".value", "%v", err)
					}
				}
			}
		}
		check(p+".fail_safe.write", m.FailSafe.Write)
		check(p+".fail_safe.hand_back.write", m.FailSafe.HandBack.Write)
	}
	return c.locate(pr.Err())
}

// parseFor parses text as a value of the tag's engineering type, within
// its limits.
func parseFor(t *plc.Tag, text string) (plc.Value, error) {
	v, err := plc.ParseValue(text, t.EngType())
	if err != nil {
		return plc.Value{}, err
	}
	if t.Limits.Min != nil && v.Float() < *t.Limits.Min || t.Limits.Max != nil && v.Float() > *t.Limits.Max {
		return plc.Value{}, fmt.Errorf("%s outside the tag's write limits", text)
	}
	return v, nil
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || !slices.Contains([]string{"http", "https"}, u.Scheme) || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

func checkStatus(s int) error {
	if s != 0 && (s < 100 || s > 599) {
		return fmt.Errorf("%d is not an HTTP status", s)
	}
	return nil
}

func (h *HeartbeatConfig) period() time.Duration {
	if h.Period == 0 {
		return DefaultHeartbeatPeriod
	}
	return h.Period
}

func (h *HeartbeatConfig) timeout() time.Duration {
	if h.Timeout == 0 {
		return max(DefaultHeartbeatTimeout, 2*h.period())
	}
	return h.Timeout
}

func (e *EnvelopeConfig) period() time.Duration {
	if e.Period == 0 {
		return DefaultEnvelopePeriod
	}
	return e.Period
}

func (h *HandBackConfig) stable() time.Duration {
	if h.Stable == 0 {
		return DefaultStable
	}
	return h.Stable
}

func (r RestartConfig) supervisor(name string) supervise.Config {
	c := supervise.Config{Name: name, Intensity: r.Intensity, Period: r.Period, Retry: r.Retry, StableAfter: r.StableAfter}
	if c.Intensity == 0 {
		c.Intensity = DefaultIntensity
	}
	if c.Period == 0 {
		c.Period = DefaultIntensityPeriod
	}
	return c
}

// heartbeatURL is the URL an http heartbeat probes by default.
func heartbeatURL(m *ModuleConfig) string {
	switch {
	case m.Heartbeat != nil && m.Heartbeat.URL != "":
		return m.Heartbeat.URL
	case m.Liveness != nil && m.Liveness.URL != "":
		return m.Liveness.URL
	case m.Service != nil:
		return m.Service.URL
	}
	return ""
}

// File returns the file the configuration was parsed from.
func (c *Config) File() string { return c.file }
