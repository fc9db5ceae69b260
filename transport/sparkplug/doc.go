// Package sparkplug is kiln's model of Eclipse Sparkplug B 3.0, the
// convention of industrial IoT for MQTT between edge nodes and host
// applications: topics (spBv1.0/group/TYPE/node[/device] and
// spBv1.0/STATE/host), the metric data types and how kiln's values map to
// them, the payload codec over the specification's protobuf schema
// (subpackage spb), metric properties from the point database, and the
// host's STATE message.
//
// The edge node (the gateway's Sparkplug uplink) is in subpackage edge,
// the host application (the cloud side) in subpackage host.
//
//	t, err := sparkplug.ParseTopic("spBv1.0/acme/DDATA/gw1/plc1")
//	p, err := sparkplug.Decode(topic, payload)
//	v, err := sparkplug.Value(p.Metrics[0], sparkplug.TypeDouble)
//
// Values map by their kiln type: BOOL → Boolean, SINT/INT/DINT/LINT →
// Int8/16/32/64, BYTE/USINT → UInt8, WORD/UINT → UInt16, DWORD/UDINT →
// UInt32, LWORD/ULINT → UInt64, REAL → Float, LREAL → Double, STRING →
// String, DATETIME → DateTime, BYTESTRING → Bytes. Signed integers of 8
// to 32 bits travel as the two's complement of their width in int_value,
// as 3.0 requires.
package sparkplug
