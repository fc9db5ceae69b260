// Command pulsartest runs the pulsartest broker as a process, for tests
// that span processes or survive a broker restart.
//
//	pulsartest -addr 127.0.0.1:6650 -data-dir /tmp/pulsar -config broker.yaml
//
// The optional YAML config is a pulsartest.Config (addr, data_dir,
// max_message_size, keep_alive, disable_deduplication, auth); flags
// override it. It prints the service URL and runs until SIGINT or SIGTERM.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pulsartest:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "", "listen address (default 127.0.0.1:6650)")
	dataDir := flag.String("data-dir", "", "directory keeping messages across restarts (default: memory only)")
	cfgPath := flag.String("config", "", "YAML file with a pulsartest.Config")
	verbose := flag.Bool("v", false, "log connections and errors")
	flag.Parse()

	var cfg pulsartest.Config
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return fmt.Errorf("config %s: %w", *cfgPath, err)
		}
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:6650"
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	log := zap.NewNop()
	if *verbose {
		l, err := zap.NewDevelopment()
		if err != nil {
			return err
		}
		log = l
	}
	// Catch the signals before the URL is printed: whoever reads it may
	// stop the process at once, and that must still close the broker
	// (saving its subscriptions) instead of killing it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := pulsartest.New(cfg, pulsartest.WithLogger(log))
	if err != nil {
		return err
	}
	fmt.Println(b.URL())
	return b.Serve(ctx)
}
