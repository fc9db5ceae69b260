// Package plctest is an in-memory plc.Driver for unit tests: a device
// whose memory is a map from address to value. Tests set raw values,
// force a bad quality on one address, fail writes to one address or make
// the whole device unreachable, hold or fail reads with a hook, and count
// reads. Reads of a prepared set of tags do not allocate, so the poller's
// benchmarks measure the poller.
//
//	drv := plctest.New()
//	drv.Set("DB1.DBW4", plc.IntValue(plc.Int, 13824))
//	p, err := plc.NewPoller(db, map[string]plc.Driver{"kiln1": drv}, sink)
//
// To use it through plc.Open and point-database validation (Device.Driver
// "plctest"), call Register once, e.g. from TestMain or an init function
// of the test; plc.Open then hands out Shared(device name).
package plctest
