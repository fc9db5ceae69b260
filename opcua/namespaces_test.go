package opcua_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

// A server restarted with its namespaces in another order: the tags
// addressed by namespace URI resume on the same nodes (new values of
// those nodes arrive), while an address by index now points at a
// namespace without them.
func TestNamespaceURIsFollowAReorderedServerAcrossARestart(t *testing.T) {
	const uri = "urn:kiln:uasim"
	tags := []plc.Tag{{Name: "A.X", Type: plc.TypeLReal}, {Name: "A.Y", Type: plc.TypeDInt}}
	sim1 := startSim(t, uasim.Config{Namespaces: []string{"urn:vendor:a", uri, "urn:vendor:b"}}, tags)
	if got := sim1.NodeID("A.X"); got != "ns=2;s=A.X" {
		t.Fatalf("first server serves A.X as %s", got)
	}
	c := newClient(t, opcua.Config{Endpoint: sim1.Endpoint(), KeepAlive: 100 * time.Millisecond})
	drv := opcua.NewDriver(c)

	items := []opcua.Item{
		{Tag: plc.Tag{Name: "A.X", Address: "nsu=" + uri + ";s=A.X", Type: plc.TypeLReal}},
		{Tag: plc.Tag{Name: "A.Y", Address: "nsu=" + uri + ";s=A.Y", Type: plc.TypeDInt}},
		{Tag: plc.Tag{Name: "byIndex", Address: "ns=2;s=A.X", Type: plc.TypeLReal}},
	}
	col := newCollector()
	sub, err := c.Subscribe(context.Background(), subCfg, items, col)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sim1.Set("A.X", plc.FloatValue(plc.LReal, 1))
	sim1.Set("A.Y", plc.IntValue(plc.DInt, 1))
	col.waitFor(t, "A.X before", hasValue("A.X", plc.FloatValue(plc.LReal, 1)))
	col.waitFor(t, "A.Y before", hasValue("A.Y", plc.IntValue(plc.DInt, 1)))
	col.waitFor(t, "byIndex before", hasValue("byIndex", plc.FloatValue(plc.LReal, 1)))
	rd, err := drv.Prepare([]plc.Tag{items[0].Tag, items[2].Tag})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, 2)
	if err := rd.Read(context.Background(), out); err != nil || out[0].Value.Float() != 1 || out[1].Value.Float() != 1 {
		t.Fatalf("read before: %v %v", out, err)
	}

	addr := strings.TrimPrefix(sim1.Endpoint(), "opc.tcp://")
	if err := sim1.Stop(); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "A.X bad during the outage", func(ss []plc.Sample) bool {
		s, ok := last(ss, "A.X")
		return ok && s.Quality.Reason == plc.ReasonCommFailure
	})
	// The same server address, its namespaces reordered: the tags are
	// now in namespace 4, and namespace 2 is urn:vendor:b.
	sim2 := startSim(t, uasim.Config{Addr: addr, Namespaces: []string{"urn:vendor:a", "urn:vendor:b", "urn:vendor:c", uri}}, tags)
	if got := sim2.NodeID("A.X"); got != "ns=4;s=A.X" {
		t.Fatalf("second server serves A.X as %s", got)
	}
	sim2.Set("A.X", plc.FloatValue(plc.LReal, 2))
	sim2.Set("A.Y", plc.IntValue(plc.DInt, 2))
	col.waitFor(t, "A.X after the restart", hasValue("A.X", plc.FloatValue(plc.LReal, 2)))
	col.waitFor(t, "A.Y after the restart", hasValue("A.Y", plc.IntValue(plc.DInt, 2)))
	sim2.Set("A.X", plc.FloatValue(plc.LReal, 3))
	col.waitFor(t, "A.X change after the restart", hasValue("A.X", plc.FloatValue(plc.LReal, 3)))
	col.waitFor(t, "byIndex bad", func(ss []plc.Sample) bool {
		s, ok := last(ss, "byIndex")
		return ok && s.Quality.Code == uint32(ua.StatusBadNodeIDUnknown)
	})

	// A poll after the reconnect resolves again, too.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := rd.Read(context.Background(), out)
		if err == nil && out[0].Quality.IsGood() && out[0].Value.Float() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read after the restart: %v %v", out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out[1].Quality.IsGood() {
		t.Errorf("ns=2;s=A.X read %v from urn:vendor:b", out[1])
	}

	// Browse reports the URI form beside the index.
	nodes, err := c.Browse(context.Background(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range nodes {
		if n.NodeID == "ns=4;s=A.X" {
			found = n.ExpandedNodeID == "nsu="+uri+";s=A.X"
		}
	}
	if !found {
		t.Errorf("browse did not report A.X as ns=4 and nsu=%s", uri)
	}
}

func TestUnknownNamespaceURIIsBadNodeIdUnknown(t *testing.T) {
	tags := []plc.Tag{{Name: "A.X", Type: plc.TypeLReal}}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	a, err := opcua.ParseAddress("nsu=urn:nowhere;s=A.X")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.Resolve(context.Background(), a); !errors.Is(err, ua.StatusBadNodeIDUnknown) {
		t.Fatalf("resolve an unknown namespace: %v", err)
	}
	a, _ = opcua.ParseAddress("nsu=urn:kiln:uasim;s=A.X")
	id, err := c.Resolve(context.Background(), a)
	if err != nil || id.String() != "ns=2;s=A.X" {
		t.Fatalf("resolve = %v, %v", id, err)
	}
}
