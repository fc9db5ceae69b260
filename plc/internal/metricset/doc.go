// Package metricset makes a driver's Prometheus collectors one
// collector, so that registering them is all or nothing and one
// Unregister removes them all; the s7 and modbus drivers share it.
//
//	set := metricset.Set{requests, rtt, breaker}
//	err := reg.Register(set)
//	reg.Unregister(set)
package metricset
