package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/wire"
)

// BenchmarkIngest measures samples per second into PostgreSQL, one
// operation being a message of 100 samples: "store" writes the decoded
// batches straight through pgstore in batches of 5000 (the ceiling the
// ingestor works towards), "pulsar-1" and "pulsar-2" go from pulsartest
// through one or two ingestor replicas, ending when every row is stored.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"store", "pulsar-1", "pulsar-2"} {
		b.Run(mode, func(b *testing.B) {
			db := pgtest.NewDB(b)
			ctx := context.Background()
			msgs := make([]transport.Message, b.N)
			for i := range msgs {
				msgs[i] = e2eBatch("acme", "plant-1", uint64(i+1), i*perMessage, perMessage)
			}
			if mode == "store" {
				st, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				b.ResetTimer()
				var batch []plc.Sample
				var wb wire.Batch
				for i, m := range msgs {
					if err := wire.FromMessage(m, &wb); err != nil {
						b.Fatal(err)
					}
					batch = append(batch, wb.Samples...)
					if len(batch) >= DefaultMaxBatchSamples || i == len(msgs)-1 {
						if _, err := st.Write(ctx, "acme", batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*perMessage)/b.Elapsed().Seconds(), "samples/s")
				return
			}
			broker, err := pulsartest.New(pulsartest.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer broker.Close()
			reg, err := tenant.Parse("tenants.yaml", []byte("tenants:\n  - {id: acme, namespaces: [plant-1]}\n"))
			if err != nil {
				b.Fatal(err)
			}
			replicas := 1
			if mode == "pulsar-2" {
				replicas = 2
			}
			sctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for r := range replicas {
				st, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				sub, pub := pulsarFactories(broker, r)
				in, err := New(Config{Retry: backoff.Config{Max: time.Second}}, reg, st, sub, pub)
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() { defer wg.Done(); _ = in.Serve(sctx) }()
			}
			defer func() { stop(); wg.Wait() }()
			conn, err := pgx.Connect(ctx, db.AdminDSN)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			p, err := kpulsar.NewPublisher(kpulsar.PublisherConfig{
				Client: kpulsar.ClientConfig{URL: broker.URL()}, Topic: "persistent://acme/plant-1/samples", ProducerName: "gw"})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ResetTimer()
			var sent sync.WaitGroup
			sent.Add(len(msgs))
			if err := p.Publish(ctx, msgs, func(i int, err error) {
				if err != nil {
					b.Errorf("publish %d: %v", i, err)
				}
				sent.Done()
			}); err != nil {
				b.Fatal(err)
			}
			for {
				var n int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM kiln_samples").Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n == b.N*perMessage {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			sent.Wait()
			b.ReportMetric(float64(b.N*perMessage)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
