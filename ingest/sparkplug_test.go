package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/mqtttest"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/sparkplug/edge"
	"github.com/kiln-iot/kiln/transport/sparkplug/host"
	"github.com/kiln-iot/kiln/transport/wire"
)

// A kiln edge node → mosquitto → host → PostgreSQL: a batch sent twice
// (a replay after a confirmation the link lost) is stored once, and a
// death is stored as bad samples.
func TestSparkplugBatchesReachPostgresOnce(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	st, err := pgstore.Open(ctx, pgstore.Config{DSN: db.DSN, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := tenant.Parse("tenants.yaml", []byte("tenants:\n  - {id: acme, namespaces: [plant-1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := mqtttest.Start(t, mqtttest.Options{})
	fast := backoff.Config{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	w := NewSparkplugWriter(reg, st, nil)
	h, err := host.New(host.Config{Servers: []string{b.URL()}, HostID: "kiln", Groups: map[string]string{"acme-plant-1": "acme"}, Retry: fast}, w.Handle)
	if err != nil {
		t.Fatal(err)
	}
	node, err := edge.New(edge.Config{Servers: []string{b.URL()}, GroupID: "acme-plant-1", NodeID: "gw1", PrimaryHost: "kiln", Retry: fast},
		[]edge.Device{{ID: "plc1", Tags: []plc.Tag{{Name: "Kiln.Temp", Type: plc.TypeReal}, {Name: "Kiln.Speed", Type: plc.TypeReal}}}})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = h.Serve(sctx) }()
	go func() { defer wg.Done(); _ = node.Serve(sctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "node online", node.Online)

	ts := time.Now().Add(time.Second)
	msg := wire.ToMessage(&wire.Batch{Source: "gw1", Tenant: "acme", Epoch: 77, Seq: 1, Samples: []plc.Sample{
		{Tag: "Kiln.Temp", Value: plc.FloatValue(plc.Real, 850), Quality: plc.Good, Time: ts},
		{Tag: "Kiln.Speed", Value: plc.FloatValue(plc.Real, 3.5), Quality: plc.Good, Time: ts},
	}}, nil)
	for range 2 { // the second time, as a replay
		errc := make(chan error, 1)
		if err := node.Publish(ctx, []transport.Message{msg}, func(_ int, err error) { errc <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(q string) int {
		var n int
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "the batch recorded", func() bool {
		return count("SELECT count(*) FROM kiln_batches WHERE source = 'gw1/plc1' AND epoch = 77 AND seq = 1") == 1
	})
	// The replay went the same way; a later message is stored only after
	// it, so once that one is in, the replay has been handled.
	later := wire.ToMessage(&wire.Batch{Source: "gw1", Tenant: "acme", Epoch: 77, Seq: 2, Samples: []plc.Sample{
		{Tag: "Kiln.Temp", Value: plc.FloatValue(plc.Real, 851), Quality: plc.Good, Time: ts.Add(time.Second)},
	}}, nil)
	errc := make(chan error, 1)
	if err := node.Publish(ctx, []transport.Message{later}, func(_ int, err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later batch", func() bool {
		return count("SELECT count(*) FROM kiln_batches WHERE source = 'gw1/plc1' AND seq = 2") == 1
	})
	samples, err := st.Range(ctx, "acme", "Kiln.Temp", ts.Add(-time.Minute), ts.Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	// The birth stored the tag as not yet read (bad, no value); the data
	// rows follow, each once.
	var good []float64
	for _, s := range samples {
		if s.Quality.IsGood() {
			good = append(good, s.Value.Float())
		}
	}
	if len(good) != 2 || good[0] != 850 || good[1] != 851 {
		t.Errorf("Kiln.Temp rows %v, want 850 then 851, each once", samples)
	}
}
