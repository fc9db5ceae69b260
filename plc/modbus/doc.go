// Package modbus is kiln's driver for Modbus devices (drives, meters,
// small PLCs, remote I/O, serial gateways) over Modbus TCP, Modbus RTU on
// a serial port, and RTU over TCP. It registers itself with package plc
// as driver "modbus".
//
// # Addresses
//
// ParseAddress reads addresses as plant engineers write them,
// case-insensitive: a table prefix and register number (HR100, IR5,
// CO12, DI3) or a classic reference (40001 or 400001 holding registers,
// 30001 input registers, 10001 discrete inputs, 00001 coils); an
// optional unit id before a "!" (3!HR100, else Config.Unit); a bit of a
// register (HR100.3, a BOOL); and the type and byte order after colons
// (HR100:REAL:CDAB). Types are INT, UINT, DINT, UDINT, REAL, LREAL, LINT,
// ULINT, WORD, DWORD, LWORD, STRING[n] (two characters a register) and
// BOOL; orders are ABCD (big-endian, the default), CDAB (words swapped,
// the usual "little-endian word order" of 32-bit floats), BADC (bytes
// swapped) and DCBA, per tag or per device (Config.ByteOrder). Register
// numbers count from 1 (HR1 and 40001 are protocol address 0) unless
// the device is Config.ZeroBased. A bad address is an *AddressError with
// the position of the problem.
//
// # Planning
//
// Prepare plans a scan group's reads once: tags of one unit and table are
// merged into one request while the registers between them are at most
// Config.Gap (by default, any gap that fits) and the request stays within
// 125 registers or 2000 coils (Config.MaxRegisters, Config.MaxCoils for
// devices that want less). The greedy plan in address order needs the
// fewest requests for these rules (a property test checks it against a
// brute-force optimum on random register sets). A request answered with
// an exception turns only its tags Bad, the code in the quality
// (plc.ReasonDeviceError, Code 0x02, Detail "illegal data address").
// Devices that refuse a whole range because one register in it does not
// exist get the range cut in two and both halves read again at once,
// until the faulty tags stand alone; the cuts are remembered, so later
// scans read without refusals. Cuts that only the bisection needed are
// dropped once the registers between their tags are known to answer
// (from that read, or one request asking for them alone), so the ranges
// end up cut only at the missing registers.
//
// # Writes
//
// Write (used by plc.Writer) sends a value of several registers in one
// FC16 request, so the device takes it whole; one register or coil goes
// as FC16/FC15, or FC06/FC05 with Config.SingleWrites. Input registers and
// discrete inputs are read-only (ErrReadOnlyTable). A bit in a register is
// written only when the device is Config.ReadModifyWrite, by reading the
// register and writing it back, which is not atomic: a change the device
// makes to the other bits in between is lost. Otherwise it is refused
// with ErrBitWrite.
//
// # Connections and transactions in flight
//
// New (or plc.Open) returns at once and connects in the background; the
// first read waits for the first attempt, later reads answer at once with
// Bad/comm-failure samples while the device is unreachable. Lost
// connections are rebuilt with backoff (Config.Retry). A circuit
// breaker (github.com/sony/gobreaker/v2) opens after Config.Breaker.Failures
// failed requests or connection attempts in a row; exceptions count as
// answers. Over TCP, up to Config.InFlight requests (default 1) wait for
// their answers at once on one connection, matched by transaction id,
// each with its own Config.Timeout: a lost answer fails only its request,
// and the connection is dropped only when nothing at all came back while
// a request waited. RTU carries one request at a time, with Config.Delay
// between an answer and the next request for slow serial devices; the
// drivers of one serial port or one RTU-over-TCP gateway (same mode and
// endpoint, each with its own Config.Unit) share one connection, so their
// requests never overlap on the line.
//
// Metrics (WithRegisterer): kiln_modbus_requests_total{op,result},
// kiln_modbus_round_trip_seconds{op}, kiln_modbus_exceptions_total{code},
// kiln_modbus_reconnects_total, kiln_modbus_breaker_state (0 closed, 1
// half-open, 2 open) and kiln_modbus_in_flight, labelled with the device
// name.
//
// # Device options
//
// In a point database the device's options are Config's yaml names:
// mode (tcp, rtu, rtuovertcp), unit, byte_order, zero_based, gap (a number,
// "auto" or "none"), max_registers, max_coils, in_flight, single_writes,
// read_modify_write, delay, timeout, connect_timeout, the nested ones
// dotted (retry.initial, retry.max, retry.multiplier, retry.jitter,
// breaker.failures, breaker.open_for), and for serial lines baud,
// data_bits, parity (N, E, O) and stop_bits (ConfigFromDevice, through
// config.DecodeOptions). The endpoint is the device's own. Problems are
// *config.FieldError values at options.<key>.
//
// # Why not simonvetter/modbus's client
//
// github.com/simonvetter/modbus is the reference implementation the tests
// hold the driver and the simulator against (its server and client). Its
// client cannot serve as the driver's transport: it sends one request at
// a time and waits for its answer (no transactions in flight, and it
// discards answers whose transaction id is not the last one sent), its
// calls take no context and cannot be interrupted by Close, the unit id
// is state of the client rather than of the request (so units behind one
// gateway would race), and its typed reads cannot express BADC or
// per-tag orders. The driver therefore frames requests itself (MBAP and
// RTU with CRC, internal/wire), a few hundred lines that the simulator
// shares.
//
//	drv, err := modbus.New(modbus.Config{Endpoint: "10.0.0.7:502", Unit: 3, ByteOrder: "CDAB"})
//	if err != nil { … }
//	defer drv.Close()
//	r, err := drv.Prepare(tags) // tags with addresses such as "HR100:REAL"
//	samples := make([]plc.Sample, len(tags))
//	err = r.Read(ctx, samples)
package modbus
