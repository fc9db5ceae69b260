package edge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/internal/mqtttest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// forwarderConfig retries quickly, so the test does not wait out the
// production breaker.
func forwarderConfig() forward.Config {
	return forward.Config{Retry: fast, Breaker: breaker.Config{Failures: 3, OpenFor: 200 * time.Millisecond}}
}

// The plant keeps producing into the spool while the broker is down; after
// the broker returns, every sample reaches the host, and those read during
// the outage come flagged historical.
func TestABrokerOutageLosesNothingAndReplaysHistory(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c := newCollector()
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "a"}, Retry: fast}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, h)
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln", Retry: fast}, devices())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, node)
	fwd, err := forward.New(sp, node, forwarderConfig())
	if err != nil {
		t.Fatal(err)
	}
	serve(t, fwd)
	waitFor(t, "node online", node.Online)

	// The plant: one batch of two samples every 10 ms, appended to the
	// spool as the gateway does.
	pub := spool.NewPublisher(sp)
	defer pub.Close()
	var mu sync.Mutex
	produced := map[string]bool{}
	ctx, stopPlant := context.WithCancel(context.Background())
	plantDone := make(chan struct{})
	go func() {
		defer close(plantDone)
		base := time.Now()
		for seq := uint64(1); ctx.Err() == nil; seq++ {
			ts := base.Add(time.Duration(seq) * 10 * time.Millisecond)
			m := wire.ToMessage(&wire.Batch{Source: "gw1", Tenant: "a", Seq: seq, Samples: []plc.Sample{
				{Tag: "Kiln.Temp", Value: plc.FloatValue(plc.Real, float64(seq)), Quality: plc.Good, Time: ts},
				{Tag: "Fan.Running", Value: plc.BoolValue(seq%2 == 0), Quality: plc.Good, Time: ts},
			}}, nil)
			var wg sync.WaitGroup
			wg.Add(1)
			if err := pub.Publish(ctx, []transport.Message{m}, func(int, error) { wg.Done() }); err != nil {
				return
			}
			wg.Wait()
			mu.Lock()
			produced[fmt.Sprintf("Kiln.Temp@%d", ts.UnixMilli())] = true
			produced[fmt.Sprintf("Fan.Running@%d", ts.UnixMilli())] = true
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "live data at the host", func() bool { return c.distinct() > 20 })
	b.Stop()
	waitFor(t, "node offline", func() bool { return !node.Online() })
	time.Sleep(time.Second) // the plant produces while the link is down
	b.Restart()
	waitFor(t, "node online again", node.Online)
	waitFor(t, "data after the outage", func() bool {
		mu.Lock()
		n := len(produced)
		mu.Unlock()
		return c.distinct() > n/2+50
	})
	stopPlant()
	<-plantDone
	mu.Lock()
	want := len(produced)
	mu.Unlock()
	waitFor(t, fmt.Sprintf("all %d samples at the host", want), func() bool { return c.distinct() >= want })
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range produced {
		if c.byTagTime[k] == 0 {
			t.Errorf("sample %s never reached the host", k)
		}
	}
	if c.historical == 0 {
		t.Error("no sample of the outage came flagged historical")
	}
	repeats := 0
	for _, n := range c.byTagTime {
		repeats += n - 1
	}
	t.Logf("%d samples, %d historical, %d delivered twice (absorbed by the idempotent store)", want, c.historical, repeats)
}
