// Command modbusbench measures the modbus driver's planner and its
// transactions in flight on a scattered register set: by default 1000
// holding-register values (UINT, REAL, DINT) over 5 unit ids, in
// clusters (modbussim.ScatteredRegisters), against modbussim on loopback
// with a latency per request like a real device's. It prints the
// requests per scan against the fewest possible (modbus.MinRequests) and
// the median scan time, for a server that answers one transaction at a
// time and one that works on several at once:
//
//	go run ./plc/modbus/cmd/modbusbench [-tags 1000] [-units 5] [-latency 1ms] [-scans 30] [-inflight 8]
//
// bench/modbus runs the same set against Telegraf's modbus input, side
// by side.
package main
