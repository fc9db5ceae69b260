package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
)

//go:embed demo.yaml
var demoYAML string

//go:embed demo-tags.yaml
var demoTags []byte

// demoSetup starts the simulated kiln line with the AI modules' tags and
// configures the two demo modules against it. Status events go to an
// embedded spool in a temporary directory, and are printed from there as
// the cloud would see them.
func demoSetup(ctx context.Context, log *zap.Logger, stable time.Duration, stdout io.Writer) (*setup, error) {
	list, err := sim.ParseTagList("kiln-line+demo-tags.yaml", append(sim.KilnLineYAML(), demoTags...))
	if err != nil {
		return nil, err
	}
	plant, err := sim.New(sim.Config{NoOPCUA: true}, list, sim.WithLogger(log.Named("plant")))
	if err != nil {
		return nil, err
	}
	s := &setup{drivers: map[string]plc.Driver{}}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = plant.Serve(pctx) }()
	s.closers = append(s.closers, func() { pcancel(); <-pdone; _ = plant.Close() })

	if s.db, err = plant.PointDB(); err != nil {
		return s, err
	}
	s.reg = prometheus.NewRegistry()
	for _, dev := range s.db.Devices {
		d, err := plc.Open(dev, plc.OpenOptions{Logger: log.Named(dev.Name), Registerer: s.reg})
		if err != nil {
			return s, err
		}
		s.drivers[dev.Name] = d
		s.closers = append(s.closers, func() { _ = d.Close() })
	}
	self, err := os.Executable()
	if err != nil {
		return s, err
	}
	health, err := freeAddr()
	if err != nil {
		return s, err
	}
	vars := map[string]string{"SELF": self, "S7": plant.S7Addr(), "HEALTH": health, "STABLE": stable.String()}
	if s.cfg, err = failsafe.Parse("demo.yaml", []byte(os.Expand(demoYAML, func(k string) string { return vars[k] }))); err != nil {
		return s, err
	}

	dir, err := os.MkdirTemp("", "ai-monitor-demo-")
	if err != nil {
		return s, err
	}
	s.closers = append(s.closers, func() { _ = os.RemoveAll(dir) })
	sp, err := spool.Open(spool.Config{Dir: dir}, spool.WithLogger(log.Named("events")))
	if err != nil {
		return s, err
	}
	s.reg.MustRegister(sp)
	pub := spool.NewPublisher(sp)
	s.events = pub
	s.closers = append(s.closers, func() { _ = sp.Close() }, func() { _ = pub.Close() })
	sub, err := spool.NewSubscriber(sp)
	if err != nil {
		return s, err
	}
	ectx, ecancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { printEvents(ectx, sub, stdout) })
	s.closers = append(s.closers, func() { ecancel(); wg.Wait(); _ = sub.Close() })

	fmt.Fprintf(stdout, "ai-monitor demo: simulated kiln line on S7 %s; modules combustion (healthy) and drying (flaky)\n", plant.S7Addr())
	return s, nil
}

// printEvents prints the status events as they arrive on the transport.
func printEvents(ctx context.Context, sub *spool.Subscriber, w io.Writer) {
	for {
		d, err := sub.Receive(ctx)
		if err != nil {
			return
		}
		e, err := failsafe.DecodeEvent(d.Message())
		_ = d.Ack()
		if err != nil {
			continue
		}
		line := fmt.Sprintf("%s  %-10s %-13s state=%-12s %s", e.Time.Format("15:04:05.000"), e.Module, e.Kind, e.State, e.Reason)
		if h := e.Handover; h != nil && !h.CompletedAt.IsZero() {
			line += fmt.Sprintf(" (written and verified %v after detection, %d attempt(s))", h.CompletedAt.Sub(h.DetectedAt).Round(time.Microsecond), h.Attempts)
		}
		if e.Error != "" {
			line += " error: " + e.Error
		}
		fmt.Fprintln(w, line)
	}
}

// freeAddr returns a free port on 127.0.0.1 for a demo module's health
// endpoint.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
