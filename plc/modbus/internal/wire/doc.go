// Package wire encodes and decodes Modbus application PDUs and frames
// them for TCP (MBAP header) and RTU (unit id and CRC-16). The driver and
// the simulator share it; it knows nothing of tags.
//
//	frame := wire.MBAP(txid, unit, wire.ReadRequest(wire.FCReadHoldingRegisters, 0, 10))
//	txid, unit, pdu, err := wire.ReadMBAP(conn)
//	data, err := wire.ParseRead(wire.FCReadHoldingRegisters, 10, pdu)
package wire
