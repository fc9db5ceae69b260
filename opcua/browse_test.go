package opcua_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

func TestBrowseAndResolvePaths(t *testing.T) {
	tags := []plc.Tag{
		{Name: "Line1.Kiln.Temp", Type: plc.TypeLReal},
		{Name: "Line1.Kiln.Speed", Type: plc.TypeInt, Access: plc.ReadWrite},
		{Name: "Line1.Count", Type: plc.TypeDInt},
		{Name: "Line2.Name", Type: plc.StringType(10)},
	}
	sim := startSim(t, uasim.Config{}, tags)
	c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()})
	ctx := context.Background()

	nodes, err := c.Browse(ctx, nid(t, "ns=2;s=Line1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]opcua.Node{}
	for _, n := range nodes {
		got[n.NodeID] = n
	}
	want := []opcua.Node{
		{NodeID: "ns=2;s=Line1.Kiln", ExpandedNodeID: "nsu=urn:kiln:uasim;s=Line1.Kiln", BrowseName: "2:Kiln", Class: "Object", Depth: 1, Path: "Kiln"},
		{NodeID: "ns=2;s=Line1.Count", ExpandedNodeID: "nsu=urn:kiln:uasim;s=Line1.Count", BrowseName: "2:Count", Class: "Variable", Type: "DINT", Depth: 1, Path: "Count", Access: "ro"},
		{NodeID: "ns=2;s=Line1.Kiln.Temp", ExpandedNodeID: "nsu=urn:kiln:uasim;s=Line1.Kiln.Temp", BrowseName: "2:Temp", Class: "Variable", Type: "LREAL", Depth: 2, Path: "Kiln.Temp", Access: "ro"},
		{NodeID: "ns=2;s=Line1.Kiln.Speed", ExpandedNodeID: "nsu=urn:kiln:uasim;s=Line1.Kiln.Speed", BrowseName: "2:Speed", Class: "Variable", Type: "INT", Depth: 2, Path: "Kiln.Speed", Access: "rw"},
	}
	if len(nodes) != len(want) {
		t.Errorf("browse found %d nodes, want %d: %+v", len(nodes), len(want), nodes)
	}
	for _, w := range want {
		if got[w.NodeID] != w {
			t.Errorf("browse %s = %+v, want %+v", w.NodeID, got[w.NodeID], w)
		}
	}
	// Depth limit.
	nodes, err = c.Browse(ctx, nid(t, "ns=2;s=Line1"), 1)
	if err != nil || len(nodes) != 2 {
		t.Errorf("depth 1: %d nodes, %v", len(nodes), err)
	}
	// From the Objects folder, the tag tree hangs off it.
	nodes, err = c.Browse(ctx, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range nodes {
		found = found || n.NodeID == "ns=2;s=Line2"
	}
	if !found {
		t.Errorf("Objects folder does not list Line2: %+v", nodes)
	}

	// Browse paths resolve to the same nodes, in reads and writes.
	a, err := opcua.ParseAddress("/2:Line1/Kiln/Speed")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Resolve(ctx, a)
	if err != nil || id.String() != "ns=2;s=Line1.Kiln.Speed" {
		t.Fatalf("resolve = %v, %v", id, err)
	}
	missing, _ := opcua.ParseAddress("/2:Line1/Nope")
	if _, err := c.Resolve(ctx, missing); !errors.Is(err, ua.StatusBadNoMatch) {
		t.Fatalf("resolve missing = %v, want BadNoMatch", err)
	}
	drv := opcua.NewDriver(c)
	speed := plc.Tag{Name: "speed", Address: "/2:Line1/Kiln/Speed", Type: plc.TypeInt, Access: plc.ReadWrite}
	if errs := drv.Write(ctx, []plc.WriteItem{{Tag: speed, Value: plc.IntValue(plc.Int, 1200)}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	r, _ := drv.Prepare([]plc.Tag{speed, {Name: "nope", Address: "/2:Line1/Nope", Type: plc.TypeInt}})
	out := make([]plc.Sample, 2)
	if err := r.Read(ctx, out); err != nil {
		t.Fatal(err)
	}
	if v, _ := out[0].Value.Int(); v != 1200 || !out[0].Quality.IsGood() {
		t.Errorf("read by path = %v (%v)", out[0].Value, out[0].Quality)
	}
	if out[1].Quality.Code != uint32(ua.StatusBadNoMatch) || out[1].Quality.Reason != plc.ReasonConfigError {
		t.Errorf("unresolvable path quality = %v", out[1].Quality)
	}
}
