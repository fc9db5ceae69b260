package batcher_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/batcher"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// Samples written to a Batcher come out of the spool as wire batches,
// split at MaxBatch.
func Example() {
	dir, _ := os.MkdirTemp("", "batcher-example-")
	defer os.RemoveAll(dir)
	sp, err := spool.Open(spool.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sp.Close()
	b, err := batcher.New(sp, batcher.Config{Source: "gw-1", Tenant: "acme", MaxBatch: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Unix(1772600767, 0)
	samples := []plc.Sample{
		{Tag: "Kiln1.Zone1.Temp", Value: plc.FloatValue(plc.Real, 851.5), Quality: plc.Good, Time: at},
		{Tag: "Kiln1.Zone2.Temp", Value: plc.FloatValue(plc.Real, 902), Quality: plc.Good, Time: at},
		{Tag: "Kiln1.Running", Value: plc.BoolValue(true), Quality: plc.Good, Time: at},
	}
	if err := b.WriteSamples(context.Background(), samples); err != nil {
		fmt.Println(err)
		return
	}
	st := b.Stats()
	fmt.Println("spooled", st.SamplesSpooled, "samples in", st.MessagesSpooled, "batches; health:", b.Health())

	sub, _ := spool.NewSubscriber(sp)
	defer sub.Close()
	for range st.MessagesSpooled {
		d, _ := sub.Receive(context.Background())
		var batch wire.Batch
		_ = wire.FromMessage(d.Message(), &batch)
		fmt.Println(batch.Source, batch.Tenant, len(batch.Samples), batch.Samples[0].Tag)
		_ = d.Ack()
	}
	// Output:
	// spooled 3 samples in 2 batches; health: <nil>
	// gw-1 acme 2 Kiln1.Zone1.Temp
	// gw-1 acme 1 Kiln1.Running
}
