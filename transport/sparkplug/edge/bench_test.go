package edge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/internal/mqtttest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
)

// BenchmarkPayloadBytes reports the bytes per sample of a DDATA of 100
// REAL tags with plant-like names, by alias and by name: what a 4G link
// pays per sample.
func BenchmarkPayloadBytes(b *testing.B) {
	for _, byName := range []bool{false, true} {
		label := "aliases"
		if byName {
			label = "names"
		}
		b.Run(label, func(b *testing.B) {
			now := time.Now()
			var size int
			for range b.N {
				p := &spb.Payload{Timestamp: sparkplug.Millis(now), Seq: sparkplug.Uint64(17)}
				for i := range 100 {
					m := &spb.Payload_Metric{Timestamp: sparkplug.Millis(now.Add(time.Duration(i) * time.Millisecond))}
					if byName {
						m.Name = sparkplug.Name(fmt.Sprintf("Line1.Kiln.Zone%02d.Temperature", i))
					} else {
						m.Alias = sparkplug.Uint64(uint64(i + 1))
					}
					sparkplug.SetValue(m, sparkplug.TypeFloat, plc.FloatValue(plc.Real, 850.25+float64(i)))
					p.Metrics = append(p.Metrics, m)
				}
				data, err := sparkplug.Encode(p)
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size)/100, "bytes/sample")
		})
	}
}

// BenchmarkEdgeToHost moves batches of 1000 samples from a node through a
// real mosquitto to a host and reports samples/s received by the host.
func BenchmarkEdgeToHost(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	var got atomic.Int64
	h, err := host.New(host.Config{Servers: []string{br.URL()}, HostID: "kiln", Groups: map[string]string{"acme": "a"}},
		func(_ context.Context, d host.Delivery) error {
			if d.Type == sparkplug.DDATA {
				got.Add(int64(len(d.Samples)))
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hostDone, nodeDone := make(chan struct{}), make(chan struct{})
	defer func() { cancel(); <-hostDone; <-nodeDone }()
	go func() { defer close(hostDone); _ = h.Serve(ctx) }()
	var tags []plc.Tag
	for i := range 1000 {
		tags = append(tags, plc.Tag{Name: fmt.Sprintf("T%04d", i), Device: "plc1", Type: plc.TypeReal})
	}
	node, err := edge.New(edge.Config{Servers: []string{br.URL()}, GroupID: "acme", NodeID: "gw1", PrimaryHost: "kiln"}, []edge.Device{{ID: "plc1", Tags: tags}})
	if err != nil {
		b.Fatal(err)
	}
	go func() { defer close(nodeDone); _ = node.Serve(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); !node.Online(); {
		if time.Now().After(deadline) {
			b.Fatal("node not online")
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := time.Now()
	msgs := make([]transport.Message, 0, 1)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		samples := make([]plc.Sample, 1000)
		ts := base.Add(time.Duration(i+1) * time.Millisecond)
		for k := range samples {
			samples[k] = plc.Sample{Tag: tags[k].Name, Value: plc.FloatValue(plc.Real, float64(i)), Quality: plc.Good, Time: ts}
		}
		msgs = append(msgs[:0], batch(uint64(i+1), samples...))
		errc := make(chan error, 1)
		if err := node.Publish(ctx, msgs, func(_ int, err error) { errc <- err }); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * 1000
	for deadline := time.Now().Add(60 * time.Second); got.Load() < want; {
		if time.Now().After(deadline) {
			b.Fatalf("host got %d of %d samples", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "samples/s")
}
