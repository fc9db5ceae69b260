package gatewayconf

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/ha"
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

// Load reads a configuration file. Fields absent from the file keep their
// zero value (the default). Every problem of the file is reported at
// once, each a *config.FieldError with file, line and YAML path, joined.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gateway configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a configuration file's text and validates it, reporting
// every problem (syntax, unknown fields, values of the wrong kind, bad
// settings, tag files that are not there) as a *config.FieldError with
// file, line and YAML path, joined. Relative tag files are resolved
// against the directory of file.
func Parse(file string, data []byte) (Config, error) {
	var c Config
	doc, err := config.DecodeYAML(file, data, &c)
	var p config.Problems
	p.Nest("", c.Validate())
	dir := filepath.Dir(file)
	for i, f := range c.TagFiles {
		if f == "" {
			continue // reported by Validate
		}
		if !filepath.IsAbs(f) {
			c.TagFiles[i] = filepath.Join(dir, f)
		}
		if _, serr := os.Stat(c.TagFiles[i]); serr != nil {
			where := "in " + dir
			if filepath.IsAbs(f) {
				where = "there"
			}
			p.Add(fmt.Sprintf("tag_files[%d]", i), "%q is not %s (a relative name is resolved against the configuration file's directory): %w", f, where, errors.Unwrap(serr))
		}
	}
	return c, errors.Join(err, doc.Locate(p.Err()))
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

// Validate reports every bad field, each a *config.FieldError with its
// YAML path; a library section's problems (spool, transport.pulsar,
// transport.forward, a device's options) come with the library's own
// paths under the section's.
func (c Config) Validate() error {
	var p config.Problems
	if c.Tenant != "" {
		if err := tenant.ValidateID(c.Tenant); err != nil {
			p.Add("tenant", "%v", err)
		}
	}
	if c.MemoryLimit < MemoryLimitOff || (c.MemoryLimit > 0 && c.MemoryLimit < 16<<20) {
		p.Add("memory_limit", "want 0 (automatic), -1 (off) or at least 16 MiB (16777216), not %d", c.MemoryLimit)
	}
	switch c.Demo {
	case "", DemoAuto, DemoOn, DemoOff:
	default:
		p.Add("demo", "want auto, on or off, not %q", c.Demo)
	}
	names := map[string]int{}
	for i, d := range c.Devices {
		at := fmt.Sprintf("devices[%d]", i)
		if d.Name == "" {
			p.Add(at+".name", "is required")
		} else if first, dup := names[d.Name]; dup {
			p.Add(at+".name", "device %q is declared twice (first as devices[%d])", d.Name, first)
		} else {
			names[d.Name] = i
		}
		if _, ok := plc.Lookup(d.Driver); !ok {
			p.Add(at+".driver", "unknown driver %q (registered: %s)", d.Driver, strings.Join(plc.Drivers(), ", "))
		} else {
			p.Nest(at, plc.CheckDevice(d.PLC()))
		}
		if d.Subscribe && d.Driver != "opcua" {
			p.Add(at+".subscribe", "only opcua devices have subscriptions")
		}
		if d.PublishingInterval < 0 {
			p.Add(at+".publishing_interval", "%v is negative", d.PublishingInterval)
		}
	}
	for i, g := range c.Groups {
		at := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			p.Add(at+".name", "is required")
		}
		if g.Rate != 0 && g.Rate < plc.MinRate {
			p.Add(at+".rate", "%v is below %v", g.Rate, plc.MinRate)
		}
		if _, err := plc.ParseFullRefresh(g.FullRefresh); err != nil {
			p.Add(at+".full_refresh", "%q is not a positive duration or off", g.FullRefresh)
		}
	}
	for i, f := range c.TagFiles {
		if f == "" {
			p.Add(fmt.Sprintf("tag_files[%d]", i), "is an empty file name")
		}
	}
	// The sections as the gateway will run them: the spool's Dir
	// defaults to <data_dir>/spool, the producer name to the id.
	d := c.WithDefaults()
	p.Nest("spool", d.Spool.Validate())
	switch c.Transport.Kind {
	case "", TransportEmbedded:
	case TransportPulsar:
		pc := d.Transport.Pulsar
		p.Nest("transport.pulsar", pc.Validate())
		if pc.Topic != "" {
			if _, err := tenant.ParseTopic(pc.Topic); err != nil {
				p.Add("transport.pulsar.topic", "%v", err)
			}
		}
		if ct := c.Transport.CommandTopic; ct != "" && ct != "off" {
			if _, err := tenant.ParseTopic(ct); err != nil {
				p.Add("transport.command_topic", "%v", err)
			}
		}
		if at := c.Transport.AuditTopic; at != "" {
			if _, err := tenant.ParseTopic(at); err != nil {
				p.Add("transport.audit_topic", "%v", err)
			} else if at == pc.Topic {
				p.Add("transport.audit_topic", "must differ from the data topic, which holds only sample batches")
			}
		}
		p.Nest("transport.forward", c.Transport.Forward.Validate())
	default:
		p.Add("transport.kind", "want embedded or pulsar, not %q", c.Transport.Kind)
	}
	if c.Store.Retention < 0 {
		p.Add("store.retention", "%v is negative", c.Store.Retention)
	}
	if c.Writes.Tolerance < 0 {
		p.Add("writes.tolerance", "%v is negative", c.Writes.Tolerance)
	}
	if c.Writes.CommandMaxAge < 0 {
		p.Add("writes.command_max_age", "%v is negative", c.Writes.CommandMaxAge)
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			p.Add("http.listen", "%q is not a host:port address such as 127.0.0.1:8080", c.HTTP.Listen)
		}
	}
	p.Nest("", c.validateHA())
	return p.Err()
}

// validateHA checks the ha section: every problem, with its path under
// ha, as *config.FieldError values.
func (c Config) validateHA() error {
	if c.HA == nil {
		return nil
	}
	var p config.Problems
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

// PLC returns the device as the point database and its driver take it.
func (d Device) PLC() plc.Device {
	return plc.Device{Name: d.Name, Driver: d.Driver, Endpoint: d.Endpoint, Options: d.Options}
}
