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
// and /metrics (Prometheus) on http.listen. On SIGTERM or SIGINT it stops
// receiving, writes and acknowledges what it holds, and exits 0.
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
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
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
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cloud-ingestor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := flags(fs)
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
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (settings are flags or the -config file)", fs.Args())
	}
	l, err := load()
	if err != nil {
		return fmt.Errorf("configuration:\n%w", indent(err))
	}
	cfg := l.cfg
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

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
	metrics.MustRegister(in, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := in.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http: serving failed", zap.Error(err))
		}
	}()
	log.Info("http: listening", zap.String("addr", ln.Addr().String()))

	// Store maintenance (partitions, retention) runs until the ingestor
	// has drained.
	mctx, stopMaintenance := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := st.Serve(mctx); err != nil && mctx.Err() == nil {
			log.Error("store maintenance stopped", zap.Error(err))
		}
	}()

	log.Info("ingesting", zap.Strings("topics", in.Topics()), zap.String("subscription", cfg.Pulsar.Subscription))
	serveErr := in.Serve(ctx)
	stopMaintenance()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	if serveErr != nil {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// servingStore is a store with background maintenance.
type servingStore interface {
	store.Store
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
