package opcua_test

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

// The poller treats OPC UA nodes as tags, through plc.Open, and reports an
// outage of the server as Bad samples.
func TestPollerReadsNodesAndReportsOutage(t *testing.T) {
	sim := startSim(t, uasim.Config{}, []plc.Tag{{Name: "Line1.Temp", Type: plc.TypeLReal}})
	sim.Set("Line1.Temp", plc.FloatValue(plc.LReal, 5))
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "wincc", Driver: "opcua", Endpoint: sim.Endpoint(), Options: map[string]string{"keep_alive": "100ms"}}},
		Groups:  []plc.ScanGroup{{Name: "fast", Rate: 20 * time.Millisecond}},
		Tags: []plc.Tag{
			{Name: "temp", Device: "wincc", Address: "ns=2;s=Line1.Temp", Type: plc.TypeLReal, Group: "fast"},
			{Name: "temp-by-path", Device: "wincc", Address: "/2:Line1/Temp", Type: plc.TypeLReal, Group: "fast"},
		},
	}
	if err := db.Validate(); err != nil {
		t.Fatal(err)
	}
	drv, err := plc.Open(db.Devices[0], plc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	col := newCollector()
	p, err := plc.NewPoller(db, map[string]plc.Driver{"wincc": drv}, col)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	col.waitFor(t, "good values", func(ss []plc.Sample) bool {
		return hasValue("temp", plc.FloatValue(plc.LReal, 5))(ss) && hasValue("temp-by-path", plc.FloatValue(plc.LReal, 5))(ss)
	})
	sim.Stop()
	col.waitFor(t, "bad during the outage", func(ss []plc.Sample) bool {
		s, ok := last(ss, "temp")
		return ok && s.Quality.Reason == plc.ReasonCommFailure
	})
	sim.Set("Line1.Temp", plc.FloatValue(plc.LReal, 6))
	if err := sim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "good after the outage", func(ss []plc.Sample) bool {
		return hasValue("temp", plc.FloatValue(plc.LReal, 6))(ss) && hasValue("temp-by-path", plc.FloatValue(plc.LReal, 6))(ss)
	})
}
