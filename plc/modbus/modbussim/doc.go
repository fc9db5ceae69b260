// Package modbussim is a simulated Modbus device, or a gateway with
// several units: a real Modbus TCP server on a socket, and a Modbus RTU
// server on any byte stream (one end of a pseudo-terminal pair, a serial
// port, a TCP connection of an RTU-over-TCP gateway), for tests,
// benchmarks, demos and users' own tests. Any Modbus client can talk to
// it; it is tested against github.com/simonvetter/modbus's client.
//
// It answers function codes 01–06, 15 and 16 on four tables per unit
// (Config.Size items each), with exception 0x01 for other functions, 0x02
// for addresses past the memory, 0x03 for bad quantities, and 0x0B for
// units a gateway does not have (Config.Units; over RTU such requests go
// unanswered, as on a bus). Config.InFlight sets how many transactions of
// one connection it works on at once: with more than one it reads the
// next request while earlier ones wait out their latency and answers
// each when done, possibly out of order, as gateways that queue requests
// do; PeakInFlight reports how many it saw at once.
//
// Memory is readable and writable from Go by table and register or by
// address ("3!HR100:REAL:CDAB", 1-based), and WithOnWrite reports
// clients' writes. Faults: latency for every request (SetLatency), and per
// address an exception, extra latency or a lost answer (SetFault);
// dropping connections after N requests, refusing connections, and
// stopping and restarting on the same port.
//
//	srv, err := modbussim.New(modbussim.Config{InFlight: 4})
//	if err != nil { … }
//	defer srv.Close()
//	_ = srv.Set("HR100:REAL", plc.FloatValue(plc.Real, 21.5))
//	drv, err := modbus.New(modbus.Config{Endpoint: srv.Addr(), InFlight: 4})
package modbussim
