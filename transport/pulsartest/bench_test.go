package pulsartest_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

// BenchmarkThroughput sends 200-byte messages through the real client into
// pulsartest on loopback and receives them with a consumer on the same
// broker, with batching on and off, as fast as the client goes (rate=max:
// latency then is mostly queueing in the client) and paced at 10k msg/s.
// It reports messages per second and the end-to-end latency (send call to
// receive) at p50 and p99.
//
//	go test -run '^$' -bench Throughput -benchtime 200000x ./transport/pulsartest/
func BenchmarkThroughput(b *testing.B) {
	for _, rate := range []int{0, 10000} {
		for _, batching := range []bool{true, false} {
			name := fmt.Sprintf("batching=%v/rate=%d", batching, rate)
			if rate == 0 {
				name = fmt.Sprintf("batching=%v/rate=max", batching)
			}
			b.Run(name, func(b *testing.B) { benchThroughput(b, batching, rate) })
		}
	}
}

func benchThroughput(b *testing.B, batching bool, rate int) {
	br, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: br.URL(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	topic := fmt.Sprintf("persistent://bench/ns/t-%v-%d-%d", batching, rate, b.N)
	cons, err := client.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "s", ReceiverQueueSize: 5000})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	prod, err := client.CreateProducer(pulsar.ProducerOptions{
		Topic: topic, DisableBatching: !batching, MaxPendingMessages: 10000,
		BatchingMaxPublishDelay: time.Millisecond, BatchingMaxMessages: 1000,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()

	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < b.N; i++ {
			m, err := cons.Receive(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			sent := int64(binary.BigEndian.Uint64(m.Payload()))
			lat = append(lat, time.Since(time.Unix(0, sent)))
			cons.AckID(m.ID())
		}
	}()
	payload := make([]byte, 200)
	b.SetBytes(200)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if rate > 0 && i%10 == 0 { // bursts of 10
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
		}
		p := slices.Clone(payload)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		prod.SendAsync(ctx, &pulsar.ProducerMessage{Payload: p}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
