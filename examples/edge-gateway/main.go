// Command edge-gateway is kiln's reference edge service: it reads PLCs
// (S7, OPC UA), spools what changes to disk, forwards it to Pulsar or keeps
// it in an embedded store, takes checked writes over HTTP and a command
// topic, and serves live values, status, /healthz and /metrics.
//
// Run with no flags at all, it starts the simulated kiln line in-process,
// reads it, spools to ./kiln-data, keeps the samples in SQLite there and
// serves its HTTP API on 127.0.0.1:8080:
//
//	go run ./examples/edge-gateway
//
// -h documents every flag and configuration field.
//
// The demo plant links the simulators (s7sim, and gopcua's server through
// uasim). A production build leaves them out:
//
//	go build -tags nodemo -o edge-gateway ./examples/edge-gateway
//
// Such a binary refuses a configuration that asks for the demo (no
// devices, no tag files, or demo: on) and says so.
//
// Memory: the gateway sets the Go runtime's soft memory limit itself, from
// its tag count: 24 MiB plus 1,000 bytes per tag, at least 64 MiB (about
// 119 MiB at 100,000 tags, whose live heap is about 90 MiB), which keeps its
// resident size under 150 MiB at 100,000 tags; without a limit the garbage
// collector's headroom lets RSS reach about 200 MiB. It logs the limit it
// chose. memory_limit (bytes) in the configuration overrides it, then the
// GOMEMLIMIT environment variable; memory_limit: -1 turns it off. See
// docs/BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	"github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/httpserve"
)

// errBadConfig ends a run whose configuration file has problems, once
// they are printed.
var errBadConfig = errors.New("the configuration has problems")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge-gateway:", err)
		if errors.Is(err, errHealthcheck) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errHealthcheck marks a failed -healthcheck, which exits with status 1
// as container health checks expect (they reserve 2).
var errHealthcheck = errors.New("healthcheck failed")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := gatewayconf.NewFlags(fs)
	verbose := fs.Bool("v", false, "log at debug level")
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	healthcheck := fs.Bool("healthcheck", false, "GET this configuration's http.listen /healthz and exit 0 if healthy, 1 if not (container health checks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, buildinfo.Get())
		return err
	}
	var cfg gatewayconf.Config
	if flags.File != "" {
		var err error
		if cfg, err = gatewayconf.Load(flags.File); err != nil {
			if errors.Is(err, config.ErrInvalid) {
				fmt.Fprintf(stderr, "edge-gateway: %s in %s:\n%v\n", config.Count(err), flags.File, err)
				return errBadConfig
			}
			return err
		}
	}
	if err := flags.Apply(&cfg); err != nil {
		return err
	}
	if *healthcheck {
		if err := httpserve.Probe(ctx, cfg.WithDefaults().HTTP.Listen, "/healthz"); err != nil {
			return fmt.Errorf("%w: %w", errHealthcheck, err)
		}
		return nil
	}
	log := newLogger(stderr, *verbose)
	defer func() { _ = log.Sync() }()
	log.Info("kiln edge gateway", buildinfo.Get().Fields()...)
	// gopcua's server (the demo plant) logs its node-set loading through
	// the standard logger; that is debugging detail, not what an operator
	// needs to see at start.
	restoreStdLog, err := zap.RedirectStdLogAt(log.Named("stdlog"), zapcore.DebugLevel)
	if err != nil {
		return err
	}
	defer restoreStdLog()

	g, err := gateway.New(ctx, cfg, append(withDemo(), gateway.WithLogger(log))...)
	if err != nil {
		if errors.Is(err, config.ErrInvalid) {
			for _, e := range config.List(err) {
				fmt.Fprintln(stderr, e)
			}
			return fmt.Errorf("%s in the point database", config.Count(err))
		}
		return err
	}
	defer func() { _ = g.Close() }()
	g.Registry().MustRegister(buildinfo.Collector())
	setMemoryLimit(log, cfg, len(g.PointDB().Tags))
	// Loading a large point database (YAML) leaves hundreds of MiB of
	// garbage; hand it back to the system now rather than keep it resident.
	debug.FreeOSMemory()
	announce(stdout, cfg.WithDefaults(), g)
	err = g.Serve(ctx)
	log.Info("stopped", zap.Uint64("samples_spooled", g.Stats().SamplesSpooled))
	return err
}

// setMemoryLimit sets the Go runtime's soft memory limit as
// Config.MemoryLimitFor decides for tags tags and logs the decision. It runs
// after the point database is loaded (the tag count is known then, and the
// load's garbage does not make the collector race a limit).
func setMemoryLimit(log *zap.Logger, cfg gatewayconf.Config, tags int) {
	limit, src := cfg.MemoryLimitFor(tags, os.Getenv("GOMEMLIMIT"))
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	current := debug.SetMemoryLimit(-1) // reads the limit in force
	fields := []zap.Field{zap.String("source", string(src)), zap.Int("tags", tags)}
	if current == math.MaxInt64 {
		fields = append(fields, zap.String("limit", "none"))
	} else {
		fields = append(fields, zap.Int64("limit_bytes", current), zap.String("limit", fmt.Sprintf("%.1f MiB", float64(current)/(1<<20))))
	}
	log.Info("soft memory limit", fields...)
}

func newLogger(w io.Writer, verbose bool) *zap.Logger {
	level := zapcore.InfoLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core)
}

// announce prints what the gateway does and where to look.
func announce(w io.Writer, cfg gatewayconf.Config, g *gateway.Gateway) {
	base := "http://" + g.Addr()
	db := g.PointDB()
	fmt.Fprintf(w, "kiln edge gateway %q, tenant %q\n", cfg.ID, cfg.Tenant)
	if p := g.Plant(); p != nil {
		fmt.Fprintf(w, "  demo plant     simulated kiln line: S7 on %s, OPC UA on %s\n", p.S7Addr(), p.OPCUAEndpoint())
	}
	fmt.Fprintf(w, "  reading        %d tags from %d devices\n", len(db.Tags), len(db.Devices))
	fmt.Fprintf(w, "  spool          %s\n", cfg.Spool.Dir)
	switch cfg.Transport.Kind {
	case gatewayconf.TransportEmbedded:
		fmt.Fprintf(w, "  store          %s (SQLite), audit log %s/audit.jsonl\n", cfg.Store.Path, cfg.DataDir)
	case gatewayconf.TransportPulsar:
		fmt.Fprintf(w, "  uplink         %s topic %s\n", cfg.Transport.Pulsar.Client.URL, cfg.Transport.Pulsar.Topic)
		fmt.Fprintf(w, "  commands       %s, audit records to %s\n", cfg.Transport.CommandTopic, cfg.Transport.AuditTopic)
	}
	fmt.Fprintf(w, "  console        %s\n", g.ConsoleURL())
	if user, ok := g.DemoLogin(); ok {
		fmt.Fprintf(w, "  demo login     %s / %s  (also viewer, operator, admin; users in %s/users.yaml)\n", user, gateway.DemoPassword, cfg.DataDir)
	}
	fmt.Fprintf(w, "  HTTP API       %s/\n", base)
	fmt.Fprintf(w, "  live values    curl %s/api/values\n", base)
	fmt.Fprintf(w, "  status         curl %s/api/status   (health: /healthz, metrics: /metrics)\n", base)
	if g.Plant() != nil {
		fmt.Fprintf(w, "  try a write    curl -H 'Authorization: Bearer %s' -d '{\"value\": 870}' %s/api/tags/Kiln1.Zone1.Setpoint/write\n", cfg.Token, base)
	}
	fmt.Fprintf(w, "Stop with Ctrl-C (SIGTERM): polling stops, the spool is flushed, devices are closed.\n")
}
