// Package sim is kiln's simulated plant: one tag list in one memory, served
// over S7 (plc/s7/s7sim), OPC UA (opcua/uasim) and Modbus TCP
// (plc/modbus/modbussim) at once, so a value a client writes over one
// protocol reads back over the others. Over Modbus, data block n is unit
// n and its bytes are the holding registers (ModbusAddress gives a tag's
// Modbus address: DB1.DBD20 is 1!HR11:REAL). Signal
// generators (constant, sine, ramp, random walk, square, counter; offset,
// amplitude, period, noise) move the process values; the other tags hold
// what is written to them.
//
// The demo tag list (KilnLine, kiln-line.yaml) is a small brick kiln line:
// zone temperatures and setpoints, pressures, motor speeds, alarm bits and a
// recipe string. The plcsim command serves it; the edge gateway runs it
// in-process when started without a configuration; tests and benchmarks
// use it as a library:
//
//	p, err := sim.New(sim.Config{}, sim.KilnLine()) // 127.0.0.1, free ports
//	if err != nil { … }
//	defer p.Close()
//	go p.Serve(ctx)               // move the signals every 100ms
//	db, err := p.PointDB()        // devices and tags for a gateway
//	v, err := p.Get("Kiln1.Zone1.Setpoint")
//
// Tag lists are YAML (ParseTagList documents the format); errors name
// file, line and field as *config.FieldError values.
package sim
