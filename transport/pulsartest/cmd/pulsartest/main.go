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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulsartest:", err)
		os.Exit(1)
	}
}

// parseConfig decodes a broker configuration file and validates it,
// reporting every problem of the file at once, each with file, line and
// YAML path.
func parseConfig(file string, data []byte) (pulsartest.Config, error) {
	var cfg pulsartest.Config
	doc, err := config.DecodeYAML(file, data, &cfg)
	return cfg, errors.Join(err, doc.Locate(cfg.Validate()))
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pulsartest", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:6650)")
	dataDir := fs.String("data-dir", "", "directory keeping messages across restarts (default: memory only)")
	cfgPath := fs.String("config", "", "YAML file with a pulsartest.Config")
	verbose := fs.Bool("v", false, "log connections and errors")
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, buildinfo.Get())
		return err
	}

	var cfg pulsartest.Config
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			return err
		}
		if cfg, err = parseConfig(*cfgPath, b); err != nil {
			return fmt.Errorf("%s in %s:\n%w", config.Count(err), *cfgPath, err)
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
	log.Info("kiln pulsartest", buildinfo.Get().Fields()...)
	// Catch the signals before the URL is printed: whoever reads it may
	// stop the process at once, and that must still close the broker
	// (saving its subscriptions) instead of killing it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := pulsartest.New(cfg, pulsartest.WithLogger(log))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, b.URL())
	return b.Serve(ctx)
}
