package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/supervise"
)

// newPLCGateway returns a gateway reading one S7 PLC at endpoint, on
// the embedded transport.
func newPLCGateway(t *testing.T, endpoint string) *Gateway {
	t.Helper()
	dir := t.TempDir()
	tags := filepath.Join(dir, "tags.yaml")
	if err := os.WriteFile(tags, []byte("tags:\n  - {name: Kiln1.Temp, device: plc1, address: DB1.DBD0, type: REAL}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{DataDir: dir, Demo: config.DemoOff, HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Devices:  []config.Device{{Name: "plc1", Driver: "s7", Endpoint: endpoint}},
		TagFiles: []string{tags}}
	g, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// TestServeReportsChildrenLeftBehind: a child that does not stop within
// its shutdown timeout is left behind, and Serve says so (it returned nil
// whenever ctx was done).
func TestServeReportsChildrenLeftBehind(t *testing.T) {
	g := newPLCGateway(t, "127.0.0.1:1")
	release, stuck := make(chan struct{}), make(chan struct{})
	defer func() { <-stuck }() // the stubborn child ends before the test does
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	if err := g.sup.Add(ctx, supervise.Spec{Name: "stubborn", Shutdown: 50 * time.Millisecond, New: func() (supervise.Service, error) {
		return supervise.ServiceFunc(func(context.Context) error {
			close(started)
			<-release // ignores its context
			close(stuck)
			return nil
		}), nil
	}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the child did not start")
	}
	cancel()
	err := <-done
	if !errors.Is(err, supervise.ErrStopTimeout) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Serve = %v, want ErrStopTimeout naming the stubborn child", err)
	}
}
