//go:build linux

package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/internal/tmpfs"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// observedLogger returns a logger recording Info and above, and the
// records, which are printed if the test fails.
func observedLogger(t *testing.T) (*zap.Logger, *zapobserver.ObservedLogs) {
	t.Helper()
	core, logs := zapobserver.New(zap.InfoLevel)
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("%s %s %s %v", e.Level, e.LoggerName, e.Message, e.ContextMap())
			}
		}
	})
	return zap.New(core), logs
}

// fill writes a ballast file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// TestSpoolDiskFull runs the demo gateway with its spool on a tiny tmpfs
// and fills the disk: the gateway keeps running and polling, /healthz
// turns not ready, the refused batches wait in memory and, once the
// bounded backlog overflows, every dropped sample is counted and logged.
// When space returns the backlog is written, /healthz is ready again, and
// every sample the poller emitted is either spooled or counted as dropped.
func TestSpoolDiskFull(t *testing.T) {
	mnt := tmpfs.Mount(t, "2m")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log, logs := observedLogger(t)
	cfg := config.Config{DataDir: t.TempDir(), HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Spool: spool.Config{Dir: filepath.Join(mnt, "spool"), SegmentBytes: 64 << 10, MaxBytes: 64 << 20}}
	const backlog = 32 << 10
	g, err := gateway.New(ctx, cfg, gateway.WithPlant(demo.Plant), gateway.WithLogger(log), gateway.WithBacklogBytes(backlog))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(gctx) }()
	base := "http://" + g.Addr()
	running := func() {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("the gateway stopped: %v", err)
		default:
		}
	}
	type status struct {
		Ready  bool
		Stats  gateway.Stats
		Poller []struct {
			Scans          uint64 `json:"scans"`
			SamplesEmitted uint64 `json:"samples_emitted"`
		}
	}
	get := func() (st status) {
		running()
		getJSON(t, base+"/api/status", &st)
		return st
	}
	eventually(t, 20*time.Second, "ready with samples spooled", func() bool {
		st := get()
		return st.Ready && st.Stats.SamplesSpooled > 0
	})

	// The disk fills up.
	ballast := filepath.Join(mnt, "ballast")
	fill(t, ballast)
	eventually(t, 20*time.Second, "healthz not ready, batches held", func() bool {
		st := get()
		return getJSON(t, base+"/healthz", nil) == http.StatusServiceUnavailable && st.Stats.SpoolFailures > 0 && st.Stats.SamplesHeld > 0
	})
	// A write now could not be audited: refused before the PLC.
	writes := g.Plant().(*sim.Plant).Writes()
	if r := postWrite(t, base, "demo-token", "Kiln1.Zone1.Setpoint", 870); r.code != http.StatusServiceUnavailable || r.audit.Code != "audit_unavailable" {
		t.Fatalf("write while the disk is full: %d %+v", r.code, r.audit)
	}
	if n := g.Plant().(*sim.Plant).Writes(); n != writes {
		t.Fatalf("the PLC took %d writes while the audit trail was unavailable", n-writes)
	}
	scans := func() (n uint64) {
		for _, p := range get().Poller {
			n += p.Scans
		}
		return n
	}
	before := scans()
	eventually(t, 30*time.Second, "samples dropped from the full backlog", func() bool { return get().Stats.SamplesDropped > 0 })
	running()
	if after := scans(); after <= before {
		t.Fatalf("polling stopped while the disk was full: %d scans, then %d", before, after)
	}
	var logged int64
	for _, e := range logs.FilterMessage("spool backlog full: samples dropped").All() {
		logged += e.ContextMap()["dropped"].(int64)
	}
	if st := get(); logged == 0 || uint64(logged) > st.Stats.SamplesDropped {
		t.Fatalf("logged %d dropped samples, counted %d", logged, st.Stats.SamplesDropped)
	}
	if logs.FilterMessage("spool append failed; holding batches in memory and retrying").Len() == 0 {
		t.Fatal("the failed append was not logged")
	}

	// Space returns: the backlog is written and the gateway is ready.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ready again, backlog written", func() bool {
		st := get()
		return getJSON(t, base+"/healthz", nil) == http.StatusOK && st.Stats.SamplesHeld == 0
	})
	if r := postWrite(t, base, "demo-token", "Kiln1.Zone1.Setpoint", 870); r.code != http.StatusOK {
		t.Fatalf("write with space again: %d %+v", r.code, r.audit)
	}
	spooled := get().Stats.SamplesSpooled
	eventually(t, 20*time.Second, "new samples spooled", func() bool { return get().Stats.SamplesSpooled > spooled })
	running()

	// Stopped: every sample emitted is spooled or counted as dropped.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var emitted uint64
	for _, p := range g.PollerStats() {
		emitted += p.SamplesEmitted
	}
	st := g.Stats()
	if emitted != st.SamplesSpooled+st.SamplesDropped || st.SamplesHeld != 0 {
		t.Fatalf("emitted %d samples, spooled %d + dropped %d (held %d)", emitted, st.SamplesSpooled, st.SamplesDropped, st.SamplesHeld)
	}
	var droppedLogged int64
	for _, e := range logs.All() {
		if v, ok := e.ContextMap()["dropped"].(int64); ok {
			droppedLogged += v
		}
	}
	if uint64(droppedLogged) != st.SamplesDropped {
		t.Fatalf("logged %d dropped samples, counted %d", droppedLogged, st.SamplesDropped)
	}
}

// TestSpoolCursorDiskFull fills the disk while the spool holds records its
// consumer has not yet acknowledged, before the spool's cursor file was
// ever written: acknowledging them cannot persist the cursor. The embedded
// store's consumer goes on (it is never restarted, the gateway keeps
// running), and once space returns the cursor is written again.
func TestSpoolCursorDiskFull(t *testing.T) {
	mnt := tmpfs.Mount(t, "1m")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	scfg := spool.Config{Dir: filepath.Join(mnt, "spool"), SegmentBytes: 64 << 10, MaxBytes: 64 << 20}

	// Records waiting for the consumer, the cursor never written.
	sp, err := spool.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b := wire.Batch{Source: "before", Tenant: "default", Seq: uint64(i + 1),
			Samples: []plc.Sample{{Tag: "earlier", Value: plc.IntValue(plc.DInt, int64(i)), Quality: plc.Good, Time: time.Unix(int64(1e9+i), 0)}}}
		if err := sp.Append(ctx, spool.AppendMessage(nil, wire.ToMessage(&b, nil))); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(mnt, "ballast")
	fill(t, ballast)

	log, logs := observedLogger(t)
	cfg := config.Config{DataDir: t.TempDir(), HTTP: config.HTTP{Listen: "127.0.0.1:0"}, Spool: scfg}
	g, err := gateway.New(ctx, cfg, gateway.WithPlant(demo.Plant), gateway.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(gctx) }()
	failed := func() []zapobserver.LoggedEntry {
		return logs.FilterMessage("child failed").FilterField(zap.String("child", "local-store")).All()
	}
	eventually(t, 20*time.Second, "the refused cursor write logged", func() bool {
		return logs.FilterMessage("embedded store: spool cursor not persisted; it is written again with the next acknowledgement").Len() > 0 || len(failed()) > 0
	})
	if f := failed(); len(f) > 0 {
		t.Fatalf("the embedded store's consumer failed: %v", f[0].ContextMap())
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the cursor persisted again", func() bool {
		return logs.FilterMessage("embedded store: spool cursor persisted again").Len() > 0
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f := failed(); len(f) > 0 {
		t.Fatalf("the embedded store's consumer failed: %v", f[0].ContextMap())
	}
}
