// Command cloud-ingestor is kiln's reference cloud service: it moves
// sample batches from every tenant's sample topics on Pulsar into
// PostgreSQL (or the embedded SQLite store), exactly once in rows. Run as
// many replicas as the load needs: they share one subscription per topic.
//
//	cloud-ingestor -config /etc/kiln/ingestor.yaml
//	cloud-ingestor -tenants tenants.yaml -pulsar.url pulsar://127.0.0.1:6650 \
//		-store.postgres.dsn postgres://kiln@127.0.0.1/kiln
//	cloud-ingestor -h    # every setting, with its default
//
// Settings come from a YAML file (errors name its line and field), each
// overridable by a flag of the same path. It serves /healthz (200 while
// every topic is subscribed and the store takes writes, 503 otherwise)
// and /metrics (Prometheus) on http.listen. Its parts (the ingestor, the
// HTTP server, the store's maintenance) run on a supervise tree: a part
// that fails is restarted, and one failing more than 5 times in 30s stops
// the service with its error (exit 1). On SIGTERM or SIGINT it stops
// receiving, writes and acknowledges what it holds, and exits 0 (1 when a
// part did not stop in time).
//
// The work is done by package ingest; this command only wires it to
// Pulsar (transport/pulsar), the store and the tenant registry.
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
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/httpserve"
	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "cloud-ingestor:", err)
		os.Exit(1)
	}
}

// run is the whole service; it returns when ctx is done and everything
// held is written, or when it cannot start.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloud-ingestor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := flags(fs)
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	healthcheck := fs.Bool("healthcheck", false, "GET this configuration's http.listen /healthz and exit 0 if healthy, 1 if not (container health checks)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: cloud-ingestor [-config file.yaml] [flags]

Moves sample batches from the tenants' sample topics on Pulsar,
persistent://<tenant>/<namespace>/samples for every tenant and namespace of
the tenant registry, into the store: checked (a batch of another tenant
than its topic's is dead-lettered, never written), batched, written, and
acknowledged only after the commit. Malformed messages go to
persistent://<tenant>/<namespace>/samples-dlq after max_deliveries tries.
Serves /healthz and /metrics; SIGTERM drains and exits.

Configuration file (YAML; every field may also be given as a flag named by
its path, which overrides the file):

`+exampleConfig+`
Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, buildinfo.Get())
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (settings are flags or the -config file)", fs.Args())
	}
	l, err := load()
	if err != nil {
		return fmt.Errorf("configuration, %s:\n%w", config.Count(err), indent(err))
	}
	cfg := l.cfg
	if *healthcheck {
		return httpserve.Probe(ctx, cfg.HTTP.Listen, "/healthz")
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("kiln cloud ingestor", buildinfo.Get().Fields()...)

	reg, err := tenant.Load(cfg.Tenants)
	if err != nil {
		return fmt.Errorf("tenant registry:\n%w", indent(err))
	}
	st, err := openStore(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	cc := kpulsar.ClientConfig{URL: cfg.Pulsar.URL, OperationTimeout: cfg.Pulsar.OperationTimeout}
	if cfg.Pulsar.TokenFile != "" {
		b, err := os.ReadFile(cfg.Pulsar.TokenFile)
		if err != nil {
			return fmt.Errorf("pulsar.token_file: %w", err)
		}
		cc.Token = strings.TrimSpace(string(b))
	}
	plog := log.Named("pulsar")
	// A new subscription starts at the oldest retained message: what was
	// published before the first replica ever ran is data to store too.
	sub := func(_ context.Context, topic string) (transport.Subscriber, error) {
		return kpulsar.NewSubscriber(kpulsar.SubscriberConfig{
			Client: cc, Topic: topic, Subscription: cfg.Pulsar.Subscription, Type: kpulsar.Shared, Earliest: true,
			ReceiverQueueSize: cfg.Pulsar.ReceiverQueueSize, NackDelay: cfg.Pulsar.NackDelay,
		}, kpulsar.WithLogger(plog))
	}
	// Producer names are unique per topic: replicas on one host differ by
	// process id.
	host, _ := os.Hostname()
	producer := fmt.Sprintf("kiln-ingestor-%s-%d", host, os.Getpid())
	pub := func(_ context.Context, topic string) (transport.Publisher, error) {
		return kpulsar.NewPublisher(kpulsar.PublisherConfig{Client: cc, Topic: topic, ProducerName: producer},
			kpulsar.WithLogger(plog))
	}
	in, err := ingest.New(cfg.Ingest, reg, st, sub, pub, ingest.WithLogger(log))
	if err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	smetrics := supervise.NewMetrics()
	metrics.MustRegister(in, st, smetrics, buildinfo.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := in.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	hcfg := httpserve.Config{Listen: cfg.HTTP.Listen}
	hlog := log.Named("http")
	srv, err := httpserve.Listen(hcfg, mux, httpserve.WithLogger(hlog))
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	defer func() { _ = srv.Close() }()

	tree, err := supervise.New(supervise.Config{Name: "cloud-ingestor"},
		supervise.WithLogger(log.Named("supervise")), supervise.WithMetrics(smetrics))
	if err != nil {
		return err
	}
	for _, spec := range specs(cfg, st, in, srv) {
		if err := tree.Add(ctx, spec); err != nil {
			return err
		}
	}
	log.Info("ingesting", zap.Strings("topics", in.Topics()), zap.String("subscription", cfg.Pulsar.Subscription))
	if err := tree.Serve(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// specs lists the service's supervised children in start order; they stop
// in reverse. So on SIGTERM the ingestor drains first (writes and
// acknowledges what it holds) while /healthz and /metrics still answer and
// the store's maintenance still runs; then the HTTP server stops, then the
// maintenance. Each child's Shutdown covers its own graceful stop, so a
// child left behind (supervise.ErrStopTimeout) means a real hang. The HTTP
// server bound at startup serves first; a restart binds again with listen.
func specs(cfg Config, st servingStore, in *ingest.Ingestor, srv *httpserve.Server) []supervise.Spec {
	drain := cfg.Ingest.DrainTimeout
	if drain == 0 {
		drain = ingest.DefaultDrainTimeout
	}
	return []supervise.Spec{
		{Name: "store-maintenance", New: func() (supervise.Service, error) { return supervise.ServiceFunc(st.Serve), nil }},
		// A restart serves the same server again, on the same address.
		{Name: "http", Shutdown: httpserve.DefaultShutdownTimeout + 5*time.Second, New: func() (supervise.Service, error) { return srv, nil }},
		{Name: "ingest", Shutdown: drain + 5*time.Second, New: func() (supervise.Service, error) { return in, nil }},
	}
}

// servingStore is a store with background maintenance.
type servingStore interface {
	store.Store
	prometheus.Collector // maintenance metrics
	Serve(ctx context.Context) error
}

func openStore(ctx context.Context, c StoreConfig, log *zap.Logger) (servingStore, error) {
	if c.Postgres.DSN != "" {
		s, err := pgstore.Open(ctx, c.Postgres, pgstore.WithLogger(log.Named("pgstore")))
		if err != nil {
			return nil, fmt.Errorf("store.postgres: %w", err)
		}
		return s, nil
	}
	s, err := sqlitestore.Open(ctx, c.SQLite, sqlitestore.WithLogger(log.Named("sqlitestore")))
	if err != nil {
		return nil, fmt.Errorf("store.sqlite: %w", err)
	}
	return s, nil
}

func newLogger(c LogConfig, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)), nil
}

// indent lists joined errors one per line.
func indent(err error) error {
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, "  "+e.Error())
		}
	} else {
		lines = append(lines, "  "+err.Error())
	}
	return &listError{err: err, text: strings.Join(lines, "\n")}
}

// listError prints as an indented list and unwraps to the original.
type listError struct {
	err  error
	text string
}

func (e *listError) Error() string { return e.text }
func (e *listError) Unwrap() error { return e.err }
