// Package spb is the generated Go code of the Sparkplug B payload schema
// (sparkplug_b.proto, from the Eclipse Sparkplug 3.0.0 specification).
// Use package sparkplug for the topics, data types and payload helpers;
// this package is the protobuf layer beneath it.
package spb
