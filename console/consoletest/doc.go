// Package consoletest runs a small simulated plant for tests and demos of
// the console: a simulated S7 PLC (s7sim) on a real socket, kiln's S7
// driver, a point database of a kiln line, a plc.Poller scanning it and a
// plc.Writer doing checked, verified, audited writes, all behind a
// console.Backend. A write made through the console reaches the simulated
// PLC's memory and is read back; stopping the PLC makes its tags bad.
// The edge gateway's and the platform's tests use it too.
//
//	plant, err := consoletest.Start(ctx, consoletest.Config{})
//	if err != nil { … }
//	defer plant.Close()
//	c, err := console.New(console.Config{}, plant.Backend, am, docs)
//	_ = plant.Set("Line1.Kiln.Zone1.Temp", plc.FloatValue(plc.Real, 850))
package consoletest
