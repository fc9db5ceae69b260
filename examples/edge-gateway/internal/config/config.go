package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	kconfig "github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/internal/yamlconf"
	_ "github.com/kiln-iot/kiln/opcua" // registers the "opcua" driver
	"github.com/kiln-iot/kiln/plc"
	_ "github.com/kiln-iot/kiln/plc/modbus" // registers the "modbus" driver
	_ "github.com/kiln-iot/kiln/plc/s7"     // registers the "s7" driver
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/spool"
)

//go:embed reference.yaml
var reference string

// Reference returns the documented configuration file: every field with
// its default and meaning.
func Reference() string { return reference }

// Defaults of the zero fields.
const (
	DefaultID       = "kiln-gw"
	DefaultTenant   = "demo"
	DefaultDataDir  = "kiln-data"
	DefaultListen   = "127.0.0.1:8080"
	DefaultCommands = "commands"
	DefaultAudit    = "audit"
	DefaultMaxAge   = time.Minute
)

// Transport kinds.
const (
	TransportEmbedded = "embedded"
	TransportPulsar   = "pulsar"
)

// Demo modes.
const (
	DemoAuto = "auto"
	DemoOn   = "on"
	DemoOff  = "off"
)

// Config is the gateway's configuration. The zero value is the embedded
// demo: the simulated kiln line in-process, spool and SQLite store under
// ./kiln-data, HTTP on 127.0.0.1:8080.
type Config struct {
	// ID names the gateway: the source of its batches, the producer name.
	ID string `yaml:"id"`
	// Tenant is the tenant the gateway's data belongs to.
	Tenant string `yaml:"tenant"`
	// Token is the secret a write request must carry (HTTP: Authorization:
	// Bearer <token>; command topic: the request's token). Empty: the demo
	// token "demo-token" in demo mode; otherwise writes are refused.
	Token string `yaml:"token"`
	// Demo runs the simulated kiln line in-process and reads it: "auto"
	// (default: when no devices and no tag files are configured), "on" or
	// "off".
	Demo string `yaml:"demo"`
	// DataDir holds the spool, the embedded store and the audit log
	// (default ./kiln-data).
	DataDir string `yaml:"data_dir"`
	// Devices are the PLCs and OPC UA servers to read.
	Devices []Device `yaml:"devices"`
	// Groups are the scan groups.
	Groups []Group `yaml:"groups"`
	// TagFiles are point database files (YAML or CSV, see plc.Load) with
	// the tags; they may add devices and groups too.
	TagFiles []string `yaml:"tag_files"`
	// Spool is the store-and-forward buffer; Dir defaults to
	// <data_dir>/spool.
	Spool spool.Config `yaml:"spool"`
	// Transport is where spooled data goes.
	Transport Transport `yaml:"transport"`
	// Store is the embedded sample store of the embedded transport.
	Store Store `yaml:"store"`
	// Writes shapes the checked-write path.
	Writes Writes `yaml:"writes"`
	// HTTP is the JSON API.
	HTTP HTTP `yaml:"http"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (runtime/debug.SetMemoryLimit): the garbage collector works harder as
	// the heap nears it, keeping the resident size close to it. 0 (the
	// default) means automatic: the GOMEMLIMIT environment variable if it
	// is set, otherwise AutoMemoryLimit of the point database's tag count.
	// MemoryLimitOff (-1) sets none (GOMEMLIMIT, if set, still applies).
	// See MemoryLimitFor.
	MemoryLimit int64 `yaml:"memory_limit"`
	// HA makes the gateway one node of an active/standby pair (see
	// package ha); absent, the gateway runs alone. Both nodes have the
	// same configuration but for id, ha.node_id and ha.preferred_role.
	HA *ha.Config `yaml:"ha"`
}

// Device is one device to read.
type Device struct {
	Name     string            `yaml:"name"`
	Driver   string            `yaml:"driver"` // s7 or opcua
	Endpoint string            `yaml:"endpoint"`
	Options  map[string]string `yaml:"options"`
	// Subscribe reads an OPC UA device's tags by subscription instead of
	// polling.
	Subscribe bool `yaml:"subscribe"`
	// PublishingInterval is the subscription's interval (default 500ms).
	PublishingInterval time.Duration `yaml:"publishing_interval"`
}

// Group is one scan group.
type Group struct {
	Name string        `yaml:"name"`
	Rate time.Duration `yaml:"rate"`
	// FullRefresh is a duration or "off" (default 1m).
	FullRefresh string `yaml:"full_refresh"`
}

// Transport says where the spool drains to.
type Transport struct {
	// Kind is "embedded" (default: the spool feeds the embedded store) or
	// "pulsar" (a forwarder drains the spool to Pulsar).
	Kind string `yaml:"kind"`
	// Pulsar is the producer of the data topic; Client is shared with the
	// command subscription.
	Pulsar pulsar.PublisherConfig `yaml:"pulsar"`
	// CommandTopic is the full topic write requests arrive on (default:
	// the data topic's namespace, topic "commands"); "off" for none.
	CommandTopic string `yaml:"command_topic"`
	// AuditTopic is the full topic the write audit records (the answers to
	// commands) go to (default: the data topic's namespace, topic
	// "audit"), so the data topic holds only sample batches.
	AuditTopic string `yaml:"audit_topic"`
	// Forward shapes the forwarder.
	Forward forward.Config `yaml:"forward"`
}

// Store is the embedded SQLite store.
type Store struct {
	// Path is the database file (default <data_dir>/samples.db).
	Path string `yaml:"path"`
	// Retention is how long samples are kept (default 0: forever).
	Retention time.Duration `yaml:"retention"`
}

// Writes shapes checked writes.
type Writes struct {
	// NoVerify skips the read-back after a write.
	NoVerify bool `yaml:"no_verify"`
	// Tolerance is the read-back tolerance in engineering units.
	Tolerance float64 `yaml:"tolerance"`
	// CommandMaxAge refuses commands older than this (by their event
	// time), so requests queued while the gateway was down are not carried
	// out long after they were meant (default 1m).
	CommandMaxAge time.Duration `yaml:"command_max_age"`
}

// HTTP is the API server.
type HTTP struct {
	// Listen is the address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiles under /debug/pprof/ (default off).
	Pprof bool `yaml:"pprof"`
}

// Error is a problem in the configuration, naming file, line and field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string { return yamlconf.Format(e.File, e.Line, e.Field, e.Msg) }

// Load reads a configuration file. Fields absent from the file keep their
// zero value (the default). Every problem is an *Error with file and line.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a configuration file's text and validates it.
func Parse(file string, data []byte) (Config, error) {
	var c Config
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return c, yamlError(file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, yamlError(file, err)
	}
	if err := c.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File, e.Line = file, yamlconf.NodeLine(&root, e.Field)
			return c, err
		}
		return c, kconfig.Locate(err, file, func(path string) int { return yamlconf.NodeLine(&root, path) })
	}
	// Relative tag files are relative to the configuration file.
	for i, f := range c.TagFiles {
		if !filepath.IsAbs(f) {
			c.TagFiles[i] = filepath.Join(filepath.Dir(file), f)
		}
	}
	return c, nil
}

// DemoEnabled reports whether the simulated plant runs in-process.
func (c Config) DemoEnabled() bool {
	switch c.Demo {
	case DemoOn:
		return true
	case DemoOff:
		return false
	}
	return len(c.Devices) == 0 && len(c.TagFiles) == 0
}

// WithDefaults returns c with the defaults of its zero fields applied.
func (c Config) WithDefaults() Config {
	if c.ID == "" {
		c.ID = DefaultID
	}
	if c.Tenant == "" {
		c.Tenant = DefaultTenant
	}
	if c.Token == "" && c.DemoEnabled() {
		c.Token = "demo-token"
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.DataDir, "spool")
	}
	if c.Transport.Kind == "" {
		c.Transport.Kind = TransportEmbedded
	}
	if c.Store.Path == "" {
		c.Store.Path = filepath.Join(c.DataDir, "samples.db")
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultListen
	}
	if c.Writes.CommandMaxAge == 0 {
		c.Writes.CommandMaxAge = DefaultMaxAge
	}
	if c.Transport.Kind == TransportPulsar {
		if c.Transport.Pulsar.ProducerName == "" {
			c.Transport.Pulsar.ProducerName = c.ID
		}
		if t, err := tenant.ParseTopic(c.Transport.Pulsar.Topic); err == nil {
			if c.Transport.CommandTopic == "" {
				t.Local = DefaultCommands
				c.Transport.CommandTopic = t.String()
			}
			if c.Transport.AuditTopic == "" {
				t.Local = DefaultAudit
				c.Transport.AuditTopic = t.String()
			}
		}
	}
	return c
}

// Validate reports the first bad field as an *Error naming it.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if c.Tenant != "" {
		if err := tenant.ValidateID(c.Tenant); err != nil {
			return bad("tenant", "%v", err)
		}
	}
	if c.MemoryLimit < MemoryLimitOff || (c.MemoryLimit > 0 && c.MemoryLimit < 16<<20) {
		return bad("memory_limit", "want 0 (automatic), -1 (off) or at least 16 MiB (16777216), not %d", c.MemoryLimit)
	}
	switch c.Demo {
	case "", DemoAuto, DemoOn, DemoOff:
	default:
		return bad("demo", "want auto, on or off, not %q", c.Demo)
	}
	names := map[string]bool{}
	for i, d := range c.Devices {
		p := fmt.Sprintf("devices[%d]", i)
		if d.Name == "" {
			return bad(p+".name", "missing")
		}
		if names[d.Name] {
			return bad(p+".name", "device %q declared twice", d.Name)
		}
		names[d.Name] = true
		if _, ok := plc.Lookup(d.Driver); !ok {
			return bad(p+".driver", "unknown driver %q (registered: %s)", d.Driver, strings.Join(plc.Drivers(), ", "))
		}
		if d.Endpoint == "" {
			return bad(p+".endpoint", "missing")
		}
		if d.Subscribe && d.Driver != "opcua" {
			return bad(p+".subscribe", "only opcua devices have subscriptions")
		}
		if d.PublishingInterval < 0 {
			return bad(p+".publishing_interval", "must not be negative")
		}
	}
	for i, g := range c.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			return bad(p+".name", "missing")
		}
		if g.Rate != 0 && g.Rate < plc.MinRate {
			return bad(p+".rate", "%v is below %v", g.Rate, plc.MinRate)
		}
		if _, err := plc.ParseFullRefresh(g.FullRefresh); err != nil {
			return bad(p+".full_refresh", "want a positive duration or off: %v", err)
		}
	}
	for i, f := range c.TagFiles {
		if f == "" {
			return bad(fmt.Sprintf("tag_files[%d]", i), "empty file name")
		}
	}
	if c.Spool.Dir != "" || c.Spool != (spool.Config{}) {
		sc := c.Spool
		if sc.Dir == "" {
			sc.Dir = "x"
		}
		if err := sc.Validate(); err != nil {
			var ce *spool.ConfigError
			if errors.As(err, &ce) {
				return bad("spool."+ce.Field, "%s", ce.Reason)
			}
			return bad("spool", "%v", err)
		}
	}
	switch c.Transport.Kind {
	case "", TransportEmbedded:
	case TransportPulsar:
		pc := c.Transport.Pulsar
		if pc.Client.URL == "" {
			return bad("transport.pulsar.client.url", "missing (pulsar://host:6650)")
		}
		if _, err := tenant.ParseTopic(pc.Topic); err != nil {
			return bad("transport.pulsar.topic", "%v", err)
		}
		if err := pc.Validate(); err != nil {
			return bad("transport.pulsar", "%v", err)
		}
		if ct := c.Transport.CommandTopic; ct != "" && ct != "off" {
			if _, err := tenant.ParseTopic(ct); err != nil {
				return bad("transport.command_topic", "%v", err)
			}
		}
		if at := c.Transport.AuditTopic; at != "" {
			if _, err := tenant.ParseTopic(at); err != nil {
				return bad("transport.audit_topic", "%v", err)
			}
			if at == pc.Topic {
				return bad("transport.audit_topic", "must differ from the data topic, which holds only sample batches")
			}
		}
		if err := c.Transport.Forward.Validate(); err != nil {
			var ce *forward.ConfigError
			if errors.As(err, &ce) {
				return bad("transport.forward."+ce.Field, "%s", ce.Reason)
			}
			return bad("transport.forward", "%v", err)
		}
	default:
		return bad("transport.kind", "want embedded or pulsar, not %q", c.Transport.Kind)
	}
	if c.Store.Retention < 0 {
		return bad("store.retention", "must not be negative")
	}
	if c.Writes.Tolerance < 0 {
		return bad("writes.tolerance", "must not be negative")
	}
	if c.Writes.CommandMaxAge < 0 {
		return bad("writes.command_max_age", "must not be negative")
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			return bad("http.listen", "%v", err)
		}
	}
	return c.validateHA()
}

// validateHA checks the ha section: every problem, with its path under
// ha, as *config.FieldError values.
func (c Config) validateHA() error {
	if c.HA == nil {
		return nil
	}
	var p kconfig.Problems
	p.Nest("ha", c.HA.Validate())
	if d := c.HA.Lease.Device; d != "" && len(c.Devices) > 0 && !slices.ContainsFunc(c.Devices, func(x Device) bool { return x.Name == d }) {
		p.Add("ha.lease.device", "%q is not one of the devices", d)
	}
	if c.HA.Peer != "" {
		if _, _, err := net.SplitHostPort(c.HA.Peer); err != nil {
			p.Add("ha.peer", "want the other node's HTTP address, host:port: %v", err)
		}
	}
	return p.Err()
}

// yamlError turns a yaml.v3 error into an *Error with its line.
func yamlError(file string, err error) error {
	line, msg := yamlconf.Split(err)
	field := ""
	if f, ok := strings.CutPrefix(msg, "field "); ok {
		field, _, _ = strings.Cut(f, " ")
	}
	return &Error{File: file, Line: line, Field: field, Msg: msg}
}
