package opcua_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

// BenchmarkSubscription10k measures the push path: 10,000 monitored items
// on uasim, each set once per second (spread evenly over the second), all
// in one subscription with a 100ms publishing interval. One iteration is
// one second of changes. It reports the samples delivered to the sink per
// second, and the latency from Set on the server to the sample in the
// sink, p50 and p99.
//
//	go test -run XXX -bench Subscription10k -benchtime 10x ./opcua/
func BenchmarkSubscription10k(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) { benchSubscription(b, n) })
	}
}

func benchSubscription(b *testing.B, n int) {
	tags := make([]plc.Tag, n)
	index := make(map[string]int, n)
	for i := range tags {
		tags[i] = plc.Tag{Name: fmt.Sprintf("Bench.T%05d", i), Type: plc.TypeLReal}
		index[tags[i].Name] = i
	}
	sim, err := uasim.New(uasim.Config{}, tags)
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer sim.Stop()
	dir := b.TempDir()
	c, err := opcua.New(opcua.Config{Endpoint: sim.Endpoint(), CertFile: dir + "/c.der", KeyFile: dir + "/k.pem"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		b.Fatal(err)
	}

	var (
		mu       sync.Mutex
		setAt    = make([]time.Time, n) // when the tag's current value was set
		setSeq   = make([]int, n)
		lat      []time.Duration
		received int
		initial  int
	)
	ready := make(chan struct{})
	sink := plc.SinkFunc(func(_ context.Context, ss []plc.Sample) error {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, s := range ss {
			i, ok := index[s.Tag]
			if !ok || !s.Quality.IsGood() {
				continue
			}
			seq := int(s.Value.Float())
			if seq == 0 {
				initial++
				if initial == n {
					close(ready)
				}
				continue
			}
			received++
			if seq == setSeq[i] {
				lat = append(lat, now.Sub(setAt[i]))
			}
		}
		return nil
	})
	items := make([]opcua.Item, n)
	for i, t := range tags {
		t.Address = sim.NodeID(t.Name)
		items[i] = opcua.Item{Tag: t}
	}
	sub, err := c.Subscribe(ctx, opcua.SubscriptionConfig{PublishingInterval: 100 * time.Millisecond}, items, sink)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	select {
	case <-ready:
	case <-ctx.Done():
		b.Fatalf("initial values: %v", ctx.Err())
	}

	const slots = 100 // sets are spread over the second in 100 slots
	b.ResetTimer()
	start := time.Now()
	sets := 0
	for it := 1; it <= b.N; it++ {
		round := start.Add(time.Duration(it-1) * time.Second)
		for slot := 0; slot < slots; slot++ {
			time.Sleep(time.Until(round.Add(time.Duration(slot) * time.Second / slots)))
			for i := slot * n / slots; i < (slot+1)*n/slots; i++ {
				mu.Lock()
				setAt[i], setSeq[i] = time.Now(), it
				mu.Unlock()
				sim.Set(tags[i].Name, plc.FloatValue(plc.LReal, float64(it)))
				sets++
			}
		}
	}
	// Let the last publish arrive.
	time.Sleep(time.Until(start.Add(time.Duration(b.N)*time.Second)) + 500*time.Millisecond)
	b.StopTimer()
	window := float64(b.N) // seconds of changes

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(received)/window, "samples/s")
	b.ReportMetric(float64(sets)/window, "sets/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(received)/float64(max(sets, 1)), "delivered/set")
	b.ReportMetric(float64(sim.Dropped()), "dropped")
}
