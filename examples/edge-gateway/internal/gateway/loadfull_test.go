//go:build linux

package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/internal/tmpfs"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/spool"
)

// TestDiskFullUnderLoadCatchesUp: 4,000 tags refreshed every 100 ms
// (40,000 samples/s), the spool on a 4 MiB tmpfs, the broker away. The
// spool fills, the batches held in memory outgrow the whole file system
// and the gateway is not ready. When the broker comes back, the forwarder
// frees the disk and the gateway must write its backlog as fast as space
// returns, catch up and be ready while the plant goes on producing. (When
// a retry that wrote part of the backlog still waited the grown retry
// delay of up to 5 s, every delay let in more samples than the disk
// holds: it stayed unready with the file system swinging between empty
// and full.)
func TestDiskFullUnderLoadCatchesUp(t *testing.T) {
	mnt := tmpfs.Mount(t, "4m")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	broker, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	plcSim, err := s7sim.New(s7sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer plcSim.Close()

	const tags = 4000
	dir := t.TempDir()
	var tf strings.Builder
	tf.WriteString("groups:\n  - {name: load, rate: 100ms, full_refresh: 100ms}\ntags:\n")
	for i := range tags {
		fmt.Fprintf(&tf, "  - {name: Line%d.Kiln%d.Zone%04d.Temperature, device: plc1, address: DB%d.DBD%d, type: DINT, group: load}\n",
			i%4, i%3, i, 1+i/1000, 4*(i%1000))
	}
	tagFile := filepath.Join(dir, "tags.yaml")
	if err := os.WriteFile(tagFile, []byte(tf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fast := backoff.Config{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}
	cfg := config.Config{DataDir: dir, Demo: config.DemoOff, HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Devices:  []config.Device{{Name: "plc1", Driver: "s7", Endpoint: plcSim.Addr()}},
		TagFiles: []string{tagFile},
		Spool:    spool.Config{Dir: filepath.Join(mnt, "spool"), SegmentBytes: 512 << 10},
		Transport: config.Transport{Kind: config.TransportPulsar, CommandTopic: "off",
			Pulsar: pulsar.PublisherConfig{Client: pulsar.ClientConfig{URL: broker.URL(), KeepAlive: time.Second, Retry: fast},
				Topic: "persistent://demo/plant/samples", SendTimeout: 10 * time.Second},
			Forward: forward.Config{ConfirmTimeout: 10 * time.Second, Retry: fast,
				Breaker: breaker.Config{Failures: 3, OpenFor: 500 * time.Millisecond}},
		},
	}
	log, _ := observedLogger(t)
	g, err := gateway.New(ctx, cfg, gateway.WithLogger(log), gateway.WithBacklogBytes(256<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(gctx) }()
	served := false
	defer func() { // on failure too: stop serving before Close
		if !served {
			stop()
			<-done
		}
	}()
	base := "http://" + g.Addr()
	running := func() {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("the gateway stopped: %v", err)
		default:
		}
	}
	ready := func() bool { running(); return getJSON(t, base+"/healthz", nil) == http.StatusOK }
	emitted := func() (n uint64) {
		for _, s := range g.PollerStats() {
			n += s.SamplesEmitted
		}
		return n
	}
	eventually(t, 30*time.Second, "ready, forwarding", func() bool {
		f, _ := g.ForwarderStatus()
		return ready() && g.Stats().SamplesSpooled > 4*tags && f.Published > 0
	})

	// The broker goes away: the disk fills, the backlog outgrows it (more
	// than 4 MiB at about 45 bytes a sample) and the retries slow down.
	broker.Stop()
	eventually(t, 60*time.Second, "holding more than the disk", func() bool {
		st := g.Stats()
		return !ready() && st.SamplesHeld > 200_000 && st.SpoolFailures >= 8
	})
	before := emitted()

	// The broker is back: the gateway catches up and is ready, the plant
	// producing all the while.
	if err := broker.Restart(); err != nil {
		t.Fatal(err)
	}
	// Generous: on a loaded machine (the race detector, the rest of the
	// suite) the gateway drains only a little faster than the plant
	// produces, and a send or confirmation timing out there would only
	// reopen the breaker, which is not what this test is about (hence the
	// long send and confirm timeouts above).
	eventually(t, 150*time.Second, "caught up and ready", func() bool { return ready() && g.Stats().SamplesHeld == 0 })
	if after := emitted(); after < before+4*tags {
		t.Fatalf("the plant stopped producing: %d samples emitted, then %d", before, after)
	}

	stop()
	served = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	if n := emitted(); n != st.SamplesSpooled+st.SamplesDropped || st.SamplesDropped != 0 {
		t.Fatalf("emitted %d samples; spooled %d, dropped %d", n, st.SamplesSpooled, st.SamplesDropped)
	}
}
