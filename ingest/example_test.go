package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// An ingestor over the embedded transport (one spool per topic) and the
// embedded SQLite store; with Pulsar, the two functions open
// transport/pulsar subscribers and publishers instead.
func Example() {
	dir, _ := os.MkdirTemp("", "ingest-example")
	defer os.RemoveAll(dir)
	reg, _ := tenant.Parse("tenants.yaml", []byte("tenants:\n  - {id: acme, namespaces: [plant-1]}\n"))
	st, _ := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(dir, "kiln.db")})
	defer st.Close()
	sp, _ := spool.Open(spool.Config{Dir: filepath.Join(dir, "samples")})
	defer sp.Close()

	in, err := ingest.New(ingest.Config{MaxBatchDelay: time.Millisecond}, reg, st,
		func(_ context.Context, topic string) (transport.Subscriber, error) { return spool.NewSubscriber(sp) },
		func(_ context.Context, topic string) (transport.Publisher, error) {
			return nil, fmt.Errorf("no dead letters expected")
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(in.Topics())

	// A gateway's batch, delivered twice.
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	msg := wire.ToMessage(&wire.Batch{Source: "gw-1", Tenant: "acme", Seq: 1, Samples: []plc.Sample{
		{Tag: "Line1.Temp", Value: plc.FloatValue(plc.Real, 851.5), Quality: plc.Good, Time: t0},
	}}, nil)
	pub := spool.NewPublisher(sp)
	_ = pub.Publish(context.Background(), []transport.Message{msg, msg}, func(int, error) {})
	_ = pub.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Serve(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if got, _ := st.Range(ctx, "acme", "Line1.Temp", t0, t0.Add(time.Second), 10); len(got) > 0 {
			break
		}
	}
	cancel()
	fmt.Println(<-done)
	got, _ := st.Range(context.Background(), "acme", "Line1.Temp", t0, t0.Add(time.Second), 10)
	fmt.Println(len(got), got[0].Value)
	// Output:
	// [persistent://acme/plant-1/samples]
	// <nil>
	// 1 851.5
}
