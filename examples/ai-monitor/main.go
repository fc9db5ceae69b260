package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/failsafe/modulesim"
	"github.com/kiln-iot/kiln/httpserve"
	_ "github.com/kiln-iot/kiln/opcua" // registers the "opcua" driver
	"github.com/kiln-iot/kiln/plc"
	_ "github.com/kiln-iot/kiln/plc/s7" // registers the "s7" driver
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/spool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: exit status 0 after a clean stop, 1 on a failure,
// 2 on bad usage or configuration. logOpts are added to the logger's
// options (tests observe the log with them).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, logOpts ...zap.Option) int {
	if len(args) > 0 && args[0] == "demo-module" {
		return modulesim.Main(args[1:], stdout, stderr)
	}
	stdout = &syncWriter{w: stdout}
	fs := flag.NewFlagSet("ai-monitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "configuration file; without it the demo runs")
	listen := fs.String("listen", "", "HTTP listen address (default: the configuration's, or "+failsafe.DefaultListen+")")
	duration := fs.Duration("duration", 0, "stop after this long (0: at SIGTERM or SIGINT)")
	stable := fs.Duration("demo-stable", 10*time.Second, "demo: how long a module must be healthy to get control back")
	debug := fs.Bool("debug", false, "log at debug level")
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, buildinfo.Get())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ai-monitor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	level := zapcore.InfoLevel
	if *debug {
		level = zapcore.DebugLevel
	}
	log := newLogger(level, stderr, logOpts...)
	defer func() { _ = log.Sync() }()
	log.Info("kiln ai-monitor", buildinfo.Get().Fields()...)
	// gopcua logs node-set loading and connection detail through the
	// standard logger; that is debugging detail, not what an operator
	// needs to see.
	restoreStdLog, err := zap.RedirectStdLogAt(log.Named("stdlog"), zapcore.DebugLevel)
	if err != nil {
		fmt.Fprintln(stderr, "ai-monitor:", err)
		return 1
	}
	defer restoreStdLog()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	var s *setup
	if *configFile == "" {
		s, err = demoSetup(ctx, log, *stable, stdout)
	} else {
		s, err = fileSetup(*configFile, log)
	}
	if err != nil {
		if errors.Is(err, config.ErrInvalid) || errors.Is(err, failsafe.ErrConfig) {
			fmt.Fprintf(stderr, "ai-monitor: %s:\n", config.Count(err))
			for _, ce := range config.List(err) {
				fmt.Fprintln(stderr, ce)
			}
		} else {
			fmt.Fprintln(stderr, "ai-monitor:", err)
		}
		if s != nil {
			s.close()
		}
		return 2
	}
	defer s.close()
	if *listen != "" {
		s.cfg.Listen = *listen
	}
	if err := serve(ctx, s, log, stdout); err != nil {
		fmt.Fprintln(stderr, "ai-monitor:", err)
		return 1
	}
	return 0
}

// newLogger is the command's log: readable lines on w, with a stack
// trace only from DPanic up, on the bugs. The monitor's WARN lines (a
// module unhealthy, the PLC given control) and its operational errors (a
// fail-safe write that failed) are expected events of a plant, and a Go
// stack says nothing about them.
func newLogger(level zapcore.Level, w io.Writer, opts ...zap.Option) *zap.Logger {
	sink := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), sink, level)
	return zap.New(core, append([]zap.Option{zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel), zap.ErrorOutput(sink)}, opts...)...)
}

// setup is what the monitor runs with; close releases it in reverse.
type setup struct {
	cfg        failsafe.Config
	db         *plc.PointDB
	drivers    map[string]plc.Driver
	events     transport.Publisher
	heartbeats transport.Subscriber
	reg        *prometheus.Registry
	closers    []func()
}

func (s *setup) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// fileSetup loads a configuration and its point database and opens the
// drivers and transports it names.
func fileSetup(path string, log *zap.Logger) (*setup, error) {
	cfg, err := failsafe.Load(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	var points []string
	for _, p := range cfg.Points {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		points = append(points, p)
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("%s: points: no point database files", path)
	}
	db, err := plc.Load(points...)
	if err != nil {
		return nil, err
	}
	s := &setup{cfg: cfg, db: db, drivers: map[string]plc.Driver{}, reg: prometheus.NewRegistry()}
	for _, dev := range db.Devices {
		d, err := plc.Open(dev, plc.OpenOptions{Logger: log.Named(dev.Name), Registerer: s.reg})
		if err != nil {
			return s, fmt.Errorf("device %s: %w", dev.Name, err)
		}
		s.drivers[dev.Name] = d
		s.closers = append(s.closers, func() { _ = d.Close() })
	}
	ev := cfg.Events
	switch {
	case ev.Pulsar != nil:
		p, err := pulsar.NewPublisher(*ev.Pulsar, pulsar.WithLogger(log.Named("events")))
		if err != nil {
			return s, err
		}
		s.reg.MustRegister(p)
		s.events = p
		s.closers = append(s.closers, func() { _ = p.Close() })
	default:
		sc := spool.Config{Dir: filepath.Join(dir, "ai-monitor-events")}
		if ev.Spool != nil {
			sc = *ev.Spool
			if sc.Dir == "" {
				sc.Dir = filepath.Join(dir, "ai-monitor-events")
			}
		}
		if err := s.openSpool(sc, log); err != nil {
			return s, err
		}
	}
	if cfg.Heartbeats != nil {
		sub, err := pulsar.NewSubscriber(*cfg.Heartbeats, pulsar.WithLogger(log.Named("heartbeats")))
		if err != nil {
			return s, err
		}
		s.heartbeats = sub
		s.closers = append(s.closers, func() { _ = sub.Close() })
	}
	return s, nil
}

func (s *setup) openSpool(sc spool.Config, log *zap.Logger) error {
	sp, err := spool.Open(sc, spool.WithLogger(log.Named("events")))
	if err != nil {
		return err
	}
	s.reg.MustRegister(sp)
	pub := spool.NewPublisher(sp)
	s.events = pub
	s.closers = append(s.closers, func() { _ = sp.Close() }, func() { _ = pub.Close() })
	return nil
}

// serve runs the monitor and its HTTP server until ctx ends.
func serve(ctx context.Context, s *setup, log *zap.Logger, stdout io.Writer) error {
	smet := supervise.NewMetrics()
	s.reg.MustRegister(smet, buildinfo.Collector())
	opts := []failsafe.Option{failsafe.WithLogger(log), failsafe.WithEvents(s.events), failsafe.WithSupervisorMetrics(smet)}
	if s.heartbeats != nil {
		opts = append(opts, failsafe.WithHeartbeats(s.heartbeats))
	}
	mon, err := failsafe.New(s.cfg, s.db, s.drivers, opts...)
	if err != nil {
		return err
	}
	s.reg.MustRegister(mon)
	addr := s.cfg.Listen
	if addr == "" {
		addr = failsafe.DefaultListen
	}
	mux := http.NewServeMux()
	mux.Handle("/", mon.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	srv, err := httpserve.Listen(httpserve.Config{Listen: addr}, mux, httpserve.WithLogger(log.Named("http")))
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	fmt.Fprintf(stdout, "ai-monitor: API on %s/api/status, metrics on %s/metrics\n", srv.URL(), srv.URL())

	// The API answers until the monitor has stopped its modules and
	// written their fail-safe plans.
	hctx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(hctx) }()
	err = mon.Serve(ctx)
	stopHTTP()
	return errors.Join(err, <-httpDone)
}

// syncWriter serialises the writes of the demo's event printer and the
// command's own messages.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
