// Command plcsim runs kiln's simulated plant: a tag list served over S7,
// OPC UA and Modbus TCP at once from the same memory, with signal
// generators moving the process values. Without flags it serves the demo
// kiln line on 127.0.0.1:1102 (S7), opc.tcp://127.0.0.1:4840 (OPC UA) and
// 127.0.0.1:1502 (Modbus TCP: data block n is unit n's holding registers).
//
//	go run ./examples/plcsim                        # the demo kiln line
//	go run ./examples/plcsim -tags my-plant.yaml -pointdb plant-db.yaml
//	go run ./examples/plcsim -print-tags > my-plant.yaml   # start from the demo
//
// The library part is package sim.
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
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "plcsim:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("plcsim", flag.ContinueOnError)
	tags := fs.String("tags", "", "tag list file (YAML, see package sim); default: the demo kiln line")
	s7Addr := fs.String("s7", "127.0.0.1:1102", "S7 listen address (host:port)")
	uaAddr := fs.String("opcua", "127.0.0.1:4840", "OPC UA listen address (host:port)")
	noUA := fs.Bool("no-opcua", false, "serve no OPC UA")
	mbAddr := fs.String("modbus", "127.0.0.1:1502", "Modbus TCP listen address (host:port)")
	noMB := fs.Bool("no-modbus", false, "serve no Modbus TCP")
	update := fs.Duration("update", sim.DefaultUpdate, "signal update period")
	seed := fs.Uint64("seed", 1, "seed of noise and random walks")
	pointdb := fs.String("pointdb", "", "write a gateway point database (plc.Load format) for this plant to this file")
	printTags := fs.Bool("print-tags", false, "print the demo tag list and exit")
	debug := fs.Bool("debug", false, "log at debug level")
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: plcsim [flags]\n\nServes a simulated plant over S7, OPC UA and Modbus TCP from one memory.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, buildinfo.Get())
		return err
	}
	if *printTags {
		_, err := stdout.Write(sim.KilnLineYAML())
		return err
	}
	list := sim.KilnLine()
	if *tags != "" {
		var err error
		if list, err = sim.LoadTagList(*tags); err != nil {
			for _, e := range config.List(err) {
				fmt.Fprintln(os.Stderr, e)
			}
			return fmt.Errorf("%s: %s in the tag list", *tags, config.Count(err))
		}
	}
	lcfg := zap.NewDevelopmentConfig()
	if !*debug {
		lcfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	}
	log, err := lcfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("kiln plcsim", buildinfo.Get().Fields()...)
	// gopcua logs node-set loading and connection detail through the
	// standard logger; that is debugging detail, not what an operator
	// needs to see.
	restoreStdLog, err := zap.RedirectStdLogAt(log.Named("stdlog"), zapcore.DebugLevel)
	if err != nil {
		return err
	}
	defer restoreStdLog()

	cfg := sim.Config{Update: *update, Seed: *seed, NoOPCUA: *noUA, NoModbus: *noMB}
	cfg.Modbus.Addr = *mbAddr
	cfg.S7.Addr = *s7Addr
	cfg.OPCUA.Addr = *uaAddr
	p, err := sim.New(cfg, list, sim.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	if *pointdb != "" {
		db, err := p.PointDB()
		if err != nil {
			return err
		}
		f, err := os.Create(*pointdb)
		if err != nil {
			return err
		}
		if err := sim.WritePointDB(f, db); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		log.Info("point database written", zap.String("file", *pointdb))
	}
	log.Info("plant running", zap.Int("tags", len(list.Tags)), zap.String("s7", p.S7Addr()),
		zap.String("opcua", p.OPCUAEndpoint()), zap.String("modbus", p.ModbusAddr()), zap.Duration("update", *update))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopping", zap.Uint64("client_writes", p.Writes()))
	return nil
}
