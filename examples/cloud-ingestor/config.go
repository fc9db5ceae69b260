package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/internal/yamlconf"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/store/sqlitestore"
)

// Config is the service's configuration file. Zero fields take the
// defaults in help.
type Config struct {
	Tenants string        `yaml:"tenants"`
	Pulsar  PulsarConfig  `yaml:"pulsar"`
	Store   StoreConfig   `yaml:"store"`
	Ingest  ingest.Config `yaml:"ingest"`
	HTTP    HTTPConfig    `yaml:"http"`
	Log     LogConfig     `yaml:"log"`
}

// PulsarConfig says how to reach the broker and which subscription the
// replicas share.
type PulsarConfig struct {
	URL               string        `yaml:"url"`
	TokenFile         string        `yaml:"token_file"`
	Subscription      string        `yaml:"subscription"`
	ReceiverQueueSize int           `yaml:"receiver_queue_size"`
	NackDelay         time.Duration `yaml:"nack_delay"`
	OperationTimeout  time.Duration `yaml:"operation_timeout"`
}

// StoreConfig picks the store: PostgreSQL or SQLite, exactly one.
type StoreConfig struct {
	Postgres pgstore.Config     `yaml:"postgres"`
	SQLite   sqlitestore.Config `yaml:"sqlite"`
}

// HTTPConfig is the /healthz and /metrics listener.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// LogConfig shapes the log.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// help documents every setting, by its path in the file (and its flag
// name); TestEverySettingIsDocumented keeps it complete.
var help = map[string]string{
	"tenants":                             "tenant registry file (format: package tenant); required",
	"pulsar.url":                          "Pulsar service URL, e.g. pulsar://broker:6650; required",
	"pulsar.token_file":                   "file holding the Pulsar token of the ingestor's role; empty for no authentication",
	"pulsar.subscription":                 "shared subscription name; replicas with the same name share the load; a new one starts at the oldest retained message (default kiln-ingestor)",
	"pulsar.receiver_queue_size":          "messages the broker may push ahead to each topic's consumer (default 1000)",
	"pulsar.nack_delay":                   "delay before a nacked (malformed) message is delivered again (default 1s)",
	"pulsar.operation_timeout":            "bound on lookups and consumer creation (default 10s)",
	"store.postgres.dsn":                  "PostgreSQL connection string (its role must not be superuser nor BYPASSRLS); this or store.sqlite.path",
	"store.postgres.owner_dsn":            "connection string of a separate role owning the schema (migrations, partitions); the dsn role then only reads and inserts (recommended)",
	"store.postgres.partition_period":     "time span of one partition (default 24h)",
	"store.postgres.partitions_ahead":     "partitions created ahead of the current one (default 2)",
	"store.postgres.retention":            "how long samples are kept, by source time; 0 keeps them forever",
	"store.postgres.maintenance_interval": "how often partitions are created and dropped (default: a quarter of the partition period, at most 1h)",
	"store.postgres.max_conns":            "connection pool size (default 4)",
	"store.sqlite.path":                   "SQLite database file, the embedded store; this or store.postgres.dsn",
	"store.sqlite.retention":              "how long samples are kept, by source time; 0 keeps them forever",
	"store.sqlite.maintenance_interval":   "how often expired samples are deleted (default 1h)",
	"store.sqlite.busy_timeout":           "how long a write waits for another connection's lock (default 5s)",
	"ingest.topic":                        "local name of the sample topic in each tenant namespace (default samples)",
	"ingest.dead_letter_topic":            "local name of the dead-letter topic in the same namespace (default <topic>-dlq)",
	"ingest.max_batch_samples":            "write a topic's batch once it holds this many samples (default 5000)",
	"ingest.max_batch_delay":              "write a batch this long after its first message, however small (default 200ms)",
	"ingest.max_deliveries":               "deliveries of a malformed message before it is dead-lettered (default 3)",
	"ingest.drain_timeout":                "on SIGTERM, time to write and acknowledge what is held (default 30s)",
	"ingest.retry.initial":                "first delay before retrying a failed write (default 100ms)",
	"ingest.retry.max":                    "longest delay between write retries (default 30s)",
	"ingest.retry.multiplier":             "growth of the retry delay per attempt (default 2)",
	"ingest.retry.jitter":                 "randomised fraction of the retry delay (default 0.5; negative for none)",
	"http.listen":                         "address of /healthz and /metrics (default 127.0.0.1:9464; :9464 for all interfaces)",
	"log.level":                           "debug, info, warn or error (default info)",
	"log.format":                          "json or console (default json)",
}

const exampleConfig = `# cloud-ingestor configuration; every field may also be given as a flag.
tenants: /etc/kiln/tenants.yaml
pulsar:
  url: pulsar://pulsar.example:6650
  token_file: /etc/kiln/ingestor.token
  subscription: kiln-ingestor
store:
  postgres:
    dsn: postgres://kiln@db.example:5432/kiln
    retention: 2160h
ingest:
  max_batch_samples: 5000
  max_batch_delay: 200ms
  max_deliveries: 3
  drain_timeout: 30s
http:
  listen: ":9464"
log:
  level: info
`

func (c Config) withDefaults() Config {
	if c.Pulsar.Subscription == "" {
		c.Pulsar.Subscription = "kiln-ingestor"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9464"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	return c
}

// ConfigError is one problem in the configuration: where (file and
// line, or "flag") and which field.
type ConfigError struct {
	File  string
	Line  int // 0 when the field is not in the file
	Field string
	Msg   string
}

// Error formats e as "file:line: field: msg", leaving out the file and
// line when the field did not come from the file. Field is always set.
func (e *ConfigError) Error() string { return yamlconf.Format(e.File, e.Line, e.Field, e.Msg) }

// loaded is a configuration with where each field came from.
type loaded struct {
	cfg   Config
	file  string
	lines map[string]int // field path → line in file
}

// parseConfig decodes data (the file named file) onto cfg, reporting every
// problem with its line and field.
func parseConfig(data []byte, file string, cfg *Config) (map[string]int, error) {
	d := &decoder{file: file, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return d.lines, nil // an empty file: all defaults
		}
		return nil, &ConfigError{File: file, Line: yamlErrLine(err), Field: "(syntax)", Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	d.node(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
	return d.lines, errors.Join(d.errs...)
}

type decoder struct {
	file  string
	lines map[string]int
	errs  []error
}

func (d *decoder) fail(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[time.Duration]()

// node decodes n onto v; path names v ("" for the root).
func (d *decoder) node(n *yaml.Node, v reflect.Value, path string) {
	n = yamlconf.Resolve(n)
	if v.Kind() != reflect.Struct {
		d.leaf(n, v, path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, orRoot(path), "want a mapping of settings")
		return
	}
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub := join(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			if k.Value == "" {
				sub = join(path, `""`) // an empty key still names a field
			}
			d.fail(k.Line, sub, "unknown field")
			continue
		}
		d.lines[sub] = k.Line
		d.node(val, v.Field(idx), sub)
	}
}

func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "want a single value")
		return
	}
	if n.Tag == "!!null" {
		return
	}
	if err := setLeaf(v, n.Value); err != nil {
		d.fail(n.Line, path, "%v", err)
	}
}

// setLeaf parses s into v by v's type: the one parser of file values and
// flags.
func setLeaf(v reflect.Value, s string) error {
	if v.Type() == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 200ms, 30s or 24h", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number of %d bits", s, v.Type().Bits())
		}
		v.SetInt(i)
	case reflect.Uint32:
		i, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a whole number from 0 to %d", s, uint32(1<<32-1))
		}
		v.SetUint(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("settings of type %s are not supported", v.Type())
	}
	return nil
}

// yamlFields maps yaml names to field indexes of struct type t.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// leaves lists the setting paths of struct type t, in declaration order.
func leaves(t reflect.Type, path string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, leaves(f.Type, join(path, name))...)
		} else {
			out = append(out, join(path, name))
		}
	}
	return out
}

// field returns the field of cfg at path.
func field(cfg *Config, path string) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, name := range strings.Split(path, ".") {
		v = v.Field(yamlFields(v.Type())[name])
	}
	return v
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// yamlErrLine digs the line out of a yaml syntax error, 1 when it names
// none.
func yamlErrLine(err error) int {
	line, _ := yamlconf.Split(err)
	return max(line, 1)
}

// flagValue is a setting given as a flag: checked when parsed, applied
// over the file's value.
type flagValue struct {
	typ reflect.Type
	set *string
}

func (f *flagValue) String() string {
	if f.set == nil {
		return ""
	}
	return *f.set
}

func (f *flagValue) Set(s string) error {
	if err := setLeaf(reflect.New(f.typ).Elem(), s); err != nil {
		return err
	}
	f.set = &s
	return nil
}

// flags defines -config and one flag per setting on fs, and returns a
// function that loads the configuration once fs is parsed: defaults, then
// the file, then the flags given.
func flags(fs *flag.FlagSet) func() (*loaded, error) {
	file := fs.String("config", "", "configuration file (YAML; see above); flags override its settings")
	set := map[string]*flagValue{}
	var cfg Config
	for _, path := range leaves(reflect.TypeFor[Config](), "") {
		fv := &flagValue{typ: field(&cfg, path).Type()}
		set[path] = fv
		fs.Var(fv, path, help[path])
	}
	return func() (*loaded, error) {
		l := &loaded{file: *file, lines: map[string]int{}}
		if *file != "" {
			data, err := os.ReadFile(*file)
			if err != nil {
				return nil, err
			}
			if l.lines, err = parseConfig(data, *file, &l.cfg); err != nil {
				return nil, err
			}
		}
		paths := make([]string, 0, len(set))
		for p := range set {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			if fv := set[p]; fv.set != nil {
				_ = setLeaf(field(&l.cfg, p), *fv.set) // checked by Set
				delete(l.lines, p)                     // from the flag, not the file
			}
		}
		l.cfg = l.cfg.withDefaults()
		if err := l.validate(); err != nil {
			return nil, err
		}
		return l, nil
	}
}

// validate checks the configuration, naming each bad field and, when it
// came from the file, its line.
func (l *loaded) validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		file, line := l.file, yamlconf.Nearest(l.lines, path)
		if _, inFile := l.lines[path]; !inFile && line == 0 {
			file = ""
		}
		errs = append(errs, &ConfigError{File: file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
	}
	c := l.cfg
	if c.Tenants == "" {
		bad("tenants", "required: the tenant registry file")
	}
	if c.Pulsar.URL == "" {
		bad("pulsar.url", "required")
	}
	if c.Pulsar.ReceiverQueueSize < 0 {
		bad("pulsar.receiver_queue_size", "negative")
	}
	if c.Pulsar.NackDelay < 0 {
		bad("pulsar.nack_delay", "negative")
	}
	if c.Pulsar.OperationTimeout < 0 {
		bad("pulsar.operation_timeout", "negative")
	}
	switch pg, lite := c.Store.Postgres.DSN != "", c.Store.SQLite.Path != ""; {
	case pg && lite:
		bad("store", "give store.postgres.dsn or store.sqlite.path, not both")
	case !pg && !lite:
		bad("store", "required: store.postgres.dsn or store.sqlite.path")
	case pg:
		if err := c.Store.Postgres.Validate(); err != nil {
			bad("store.postgres", "%v", err)
		}
	default:
		if err := c.Store.SQLite.Validate(); err != nil {
			bad("store.sqlite", "%v", err)
		}
	}
	var ie *ingest.ConfigError
	if err := c.Ingest.Validate(); errors.As(err, &ie) {
		bad("ingest."+ie.Field, "%s", ie.Reason)
	} else if err != nil {
		bad("ingest", "%v", err)
	}
	if _, err := zapcore.ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format", "%q is not json or console", c.Log.Format)
	}
	return errors.Join(errs...)
}
