// Command sparkplug-device behaves like a device with a 4G modem and no
// gateway: a Sparkplug B edge node of its own (one device, a few signals)
// that connects to the platform's MQTT broker over TLS with its own
// credential, keeps what it reads in a local spool while the link is
// down, reconnects with backoff through drops and latency, and replays
// what it kept, flagged historical, once it is back. It is the reference
// for device makers: docs/SPARKPLUG.md describes the profile it follows.
//
//	go run ./examples/sparkplug-device -broker ssl://broker:8883 -ca ca.pem \
//	    -cert dev42.pem -key dev42.key -group acme -node dev42 -host kiln
//
// The library parts are transport/sparkplug/edge (the node),
// transport/spool (the buffer) and transport/forward (the replay).
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
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sparkplug-device:", err)
		}
		os.Exit(2)
	}
}

// The device's signals: a temperature that swings, a pressure that
// drifts, a pump that cycles.
func tags(device string) []plc.Tag {
	lo, hi := -40.0, 150.0
	return []plc.Tag{
		{Name: "Temperature", Device: device, Type: plc.TypeReal, Unit: "°C", Description: "enclosure temperature", Limits: plc.Limits{Min: &lo, Max: &hi}},
		{Name: "Pressure", Device: device, Type: plc.TypeReal, Unit: "bar"},
		{Name: "Pump.Running", Device: device, Type: plc.TypeBool},
	}
}

func read(seq uint64, ts time.Time) []plc.Sample {
	x := float64(seq)
	return []plc.Sample{
		{Tag: "Temperature", Value: plc.FloatValue(plc.Real, 20+5*math.Sin(x/10)), Quality: plc.Good, Time: ts},
		{Tag: "Pressure", Value: plc.FloatValue(plc.Real, 1+float64(seq%100)/100), Quality: plc.Good, Time: ts},
		{Tag: "Pump.Running", Value: plc.BoolValue(seq/20%2 == 0), Quality: plc.Good, Time: ts},
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sparkplug-device", flag.ContinueOnError)
	cfg := edge.Config{}
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker (tcp:// or ssl://)")
	fs.StringVar(&cfg.GroupID, "group", "demo", "Sparkplug group id (the platform maps it to a tenant)")
	fs.StringVar(&cfg.NodeID, "node", "device-1", "Sparkplug edge node id of this device")
	device := fs.String("device", "sensors", "Sparkplug device id of the signals")
	fs.StringVar(&cfg.PrimaryHost, "host", "", "primary host id to wait for (empty: publish once connected)")
	fs.StringVar(&cfg.Username, "username", "", "MQTT user name")
	fs.StringVar(&cfg.Password, "password", "", "MQTT password")
	fs.StringVar(&cfg.TLS.CAFile, "ca", "", "CA certificate of the broker (PEM)")
	fs.StringVar(&cfg.TLS.CertFile, "cert", "", "the device's client certificate (PEM)")
	fs.StringVar(&cfg.TLS.KeyFile, "key", "", "the device's client key (PEM)")
	fs.DurationVar(&cfg.KeepAlive, "keep-alive", 60*time.Second, "MQTT keep-alive (long on cellular links)")
	dataDir := fs.String("data", "sparkplug-device-data", "directory of the buffer kept while offline")
	every := fs.Duration("every", time.Second, "sampling period")
	count := fs.Int("count", 0, "stop after this many readings and once all are sent (0: run until stopped)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sparkplug-device [flags]\n\nA Sparkplug B device on a cellular link: buffers while offline, replays when back.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Servers = []string{*broker}
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	node, err := edge.New(cfg, []edge.Device{{ID: *device, Tags: tags(*device)}}, edge.WithLogger(log.Named("sparkplug")))
	if err != nil {
		return err
	}
	defer node.Close()
	sp, err := spool.Open(spool.Config{Dir: filepath.Join(*dataDir, "spool")}, spool.WithLogger(log.Named("spool")))
	if err != nil {
		return err
	}
	defer sp.Close()
	fwd, err := forward.New(sp, node, forward.Config{}, forward.WithLogger(log.Named("forward")))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sparkplug-device: %s as spBv1.0/%s/…/%s/%s, buffering in %s\n", *broker, cfg.GroupID, cfg.NodeID, *device, *dataDir)

	sup, err := supervise.New(supervise.Config{Name: "device"}, supervise.WithLogger(log.Named("supervise")))
	if err != nil {
		return err
	}
	sctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	for _, spec := range []supervise.Spec{
		{Name: "node", New: func() (supervise.Service, error) { return node, nil }},
		{Name: "forward", New: func() (supervise.Service, error) { return fwd, nil }},
		{Name: "sampler", Restart: supervise.Transient, New: func() (supervise.Service, error) {
			return supervise.ServiceFunc(func(ctx context.Context) error {
				err := sample(ctx, sp, node, *every, *count)
				if err == nil && *count > 0 {
					waitDrained(ctx, sp)
					stopAll()
				}
				return err
			}), nil
		}},
	} {
		if err := sup.Add(sctx, spec); err != nil {
			return err
		}
	}
	return sup.Serve(sctx)
}

// sample reads the signals every period into the spool, count times (or
// until ctx ends when count is 0).
func sample(ctx context.Context, sp *spool.Spool, node *edge.Node, every time.Duration, count int) error {
	pub := spool.NewPublisher(sp)
	defer pub.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	for seq := uint64(1); count == 0 || seq <= uint64(count); seq++ {
		samples := read(seq, time.Now())
		node.Observe(samples)
		msg := wire.ToMessage(&wire.Batch{Source: "device", Seq: seq, Samples: samples}, nil)
		errc := make(chan error, 1)
		if err := pub.Publish(ctx, []transport.Message{msg}, func(_ int, err error) { errc <- err }); err != nil {
			return nil // stopping
		}
		if err := <-errc; err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}

// waitDrained waits until the spool holds nothing unsent.
func waitDrained(ctx context.Context, sp *spool.Spool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for sp.Stats().Records > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
