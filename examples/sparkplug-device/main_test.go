package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/linkfault"
	"github.com/kiln-iot/kiln/internal/mqtttest"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
)

// The device on a bad cellular link: TLS with its own certificate, the
// link dropped 20 times and slow in between; every reading reaches the
// host, the ones kept during the drops flagged historical.
func TestTheDeviceLosesNothingThroughTwentyLinkDrops(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, ACL: "user dev42\ntopic readwrite spBv1.0/acme/#\ntopic read spBv1.0/STATE/#\nuser kiln\ntopic readwrite spBv1.0/#"})
	link := linkfault.Start(t, b.Addr())
	certFile, keyFile := b.WriteClientCert("dev42")
	hostCert, hostKey := b.WriteClientCert("kiln")

	var mu sync.Mutex
	seen := map[string]int{}
	historical := 0
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "acme"},
		TLS:   sparkplug.TLS{CAFile: b.CAFile(), CertFile: hostCert, KeyFile: hostKey},
		Retry: backoff.Config{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}},
		func(_ context.Context, d host.Delivery) error {
			if d.Type != sparkplug.DDATA {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			historical += d.Historical
			for _, s := range d.Samples {
				seen[fmt.Sprintf("%s@%d", s.Tag, s.Time.UnixMilli())]++
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hostDone := make(chan error, 1)
	go func() { hostDone <- h.Serve(ctx) }()

	const readings = 300
	devDone := make(chan error, 1)
	go func() {
		devDone <- run(ctx, []string{
			"-broker", "ssl://" + link.Addr(), "-ca", b.CAFile(), "-cert", certFile, "-key", keyFile,
			"-group", "acme", "-node", "dev42", "-host", "kiln", "-keep-alive", "2s",
			"-data", t.TempDir(), "-every", "20ms", "-count", fmt.Sprint(readings),
		}, io.Discard)
	}()
	// The link: up for a while, then dropped and down for a while, 20
	// times, with latency on the good stretches.
	for i := 0; i < 20; i++ {
		link.SetLatency(time.Duration(i%4) * 20 * time.Millisecond)
		time.Sleep(150 * time.Millisecond)
		link.Drop()
		link.SetDown(true)
		time.Sleep(time.Duration(50+i*5) * time.Millisecond)
		link.SetDown(false)
	}
	link.SetLatency(0)
	select {
	case err := <-devDone:
		if err != nil {
			t.Fatalf("device: %v", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("the device did not send all its readings in 120 s")
	}
	cancel()
	if err := <-hostDone; err != nil {
		t.Errorf("host: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := readings * 3; len(seen) != want {
		t.Errorf("%d distinct samples at the host, want %d", len(seen), want)
	}
	if historical == 0 {
		t.Error("nothing replayed as historical through 20 drops")
	}
	t.Logf("%d drops; %d samples, %d historical", link.Drops(), len(seen), historical)
}
