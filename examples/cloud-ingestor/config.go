package main

import (
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/ingest"
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

// loaded is a configuration with where each field came from.
type loaded struct {
	cfg  Config
	file string
	doc  *config.Document // nil without a file
	// flagged are the settings given as flags, by path: their problems
	// are not the file's.
	flagged map[string]bool
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
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			out = append(out, leaves(f.Type, config.Join(path, name))...)
		} else {
			out = append(out, config.Join(path, name))
		}
	}
	return out
}

// flagValue is a setting given as a flag: checked when parsed (by the
// decoder of the file's values), applied over the file's value.
type flagValue struct {
	path string
	set  *string
}

func (f *flagValue) String() string {
	if f.set == nil {
		return ""
	}
	return *f.set
}

func (f *flagValue) Set(s string) error {
	var scratch Config
	if err := config.DecodeOptions(map[string]string{f.path: s}, &scratch); err != nil {
		return errors.New(config.List(err)[0].Msg)
	}
	f.set = &s
	return nil
}

// flags defines -config and one flag per setting on fs, and returns a
// function that loads the configuration once fs is parsed: defaults, then
// the file, then the flags given. Every problem of the file and the
// flags is reported at once.
func flags(fs *flag.FlagSet) func() (*loaded, error) {
	file := fs.String("config", "", "configuration file (YAML; see above); flags override its settings")
	set := map[string]*flagValue{}
	for _, path := range leaves(reflect.TypeFor[Config](), "") {
		fv := &flagValue{path: path}
		set[path] = fv
		fs.Var(fv, path, help[path])
	}
	return func() (*loaded, error) {
		l := &loaded{file: *file, flagged: map[string]bool{}}
		var fileErr error
		if *file != "" {
			data, err := os.ReadFile(*file)
			if err != nil {
				return nil, err
			}
			l.doc, fileErr = config.DecodeYAML(*file, data, &l.cfg)
		}
		given := map[string]string{}
		for p, fv := range set {
			if fv.set != nil {
				given[p] = *fv.set
				l.flagged[p] = true
			}
		}
		_ = config.DecodeOptions(given, &l.cfg) // each checked by Set
		l.cfg = l.cfg.withDefaults()
		if err := errors.Join(fileErr, l.validate()); err != nil {
			return nil, err
		}
		return l, nil
	}
}

// validate checks the configuration, naming each bad field and, when it
// came from the file, its line.
func (l *loaded) validate() error {
	var p config.Problems
	c := l.cfg
	if c.Tenants == "" {
		p.Add("tenants", "is required: the tenant registry file")
	}
	if c.Pulsar.URL == "" {
		p.Add("pulsar.url", "is required (pulsar://host:6650)")
	}
	if c.Pulsar.ReceiverQueueSize < 0 {
		p.Add("pulsar.receiver_queue_size", "%d is negative", c.Pulsar.ReceiverQueueSize)
	}
	if c.Pulsar.NackDelay < 0 {
		p.Add("pulsar.nack_delay", "%v is negative", c.Pulsar.NackDelay)
	}
	if c.Pulsar.OperationTimeout < 0 {
		p.Add("pulsar.operation_timeout", "%v is negative", c.Pulsar.OperationTimeout)
	}
	switch pg, lite := c.Store.Postgres.DSN != "", c.Store.SQLite.Path != ""; {
	case pg && lite:
		p.Add("store", "give store.postgres.dsn or store.sqlite.path, not both")
	case !pg && !lite:
		p.Add("store", "is required: store.postgres.dsn or store.sqlite.path")
	case pg:
		p.Nest("store.postgres", c.Store.Postgres.Validate())
	default:
		p.Nest("store.sqlite", c.Store.SQLite.Validate())
	}
	p.Nest("ingest", c.Ingest.Validate())
	if _, err := zapcore.ParseLevel(c.Log.Level); err != nil {
		p.Add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		p.Add("log.format", "%q is not json or console", c.Log.Format)
	}
	var fromFile, fromFlags []error
	for _, fe := range config.List(p.Err()) {
		if l.flagged[fe.Path] || l.doc == nil {
			fromFlags = append(fromFlags, fe)
		} else {
			fromFile = append(fromFile, fe)
		}
	}
	if l.doc != nil {
		return errors.Join(l.doc.Locate(errors.Join(fromFile...)), errors.Join(fromFlags...))
	}
	return errors.Join(fromFlags...)
}
