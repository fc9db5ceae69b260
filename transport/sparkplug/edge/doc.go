// Package edge is a Sparkplug B 3.0 edge node: the uplink of a kiln
// gateway to an MQTT broker and the host applications behind it
// (Ignition, a kiln host, any Sparkplug host), for plants that already run
// MQTT and for 4G links where every byte costs.
//
// One Sparkplug device per kiln device, one metric per tag. The node
// connects with NDEATH as its MQTT will, waits for its primary host's
// STATE when it has one, then publishes NBIRTH (seq 0, bdSeq, Node
// Control/Rebirth and Next Server) and a DBIRTH per device with every
// metric's current value, type, alias and properties (engUnit, engLow,
// engHigh, description, readOnly, Quality). Data goes out as DDATA by
// alias, seq 1–255 and round again; a device whose tags all lose their
// connection becomes DDEATH, and DBIRTH when one reads again.
//
// The node is a transport.Publisher: a forward.Forwarder drains the
// gateway's spool into it, so data read while the broker or the host is
// away stays on disk and is replayed, in order, flagged is_historical and
// paced to Config.ReplayRate, once births are published again. A batch is
// confirmed to the spool only after an MQTT round trip behind it on the
// same connection: Sparkplug publishes data at QoS 0, and this is how the
// node knows the broker read it. Live values reach hosts at once through
// the births, which carry what Observe last saw.
//
// Writes from the host (DCMD, or NCMD for node metrics) go through
// WithWrites, which the gateway wires to its checked-write path; the node
// answers each with the tag's value after it.
//
//	node, err := edge.New(edge.Config{Servers: []string{"ssl://broker:8883"}, GroupID: "acme", NodeID: "gw1",
//		PrimaryHost: "scada"}, devices, edge.WithWrites(write))
//	fwd, err := forward.New(sp, node, forward.Config{})
//	go node.Serve(ctx)
//	go fwd.Serve(ctx)
//
// MQTT 3.1.1 through github.com/eclipse/paho.mqtt.golang: Sparkplug 3.0
// is defined on 3.1.1 and needs nothing of MQTT 5.
package edge
