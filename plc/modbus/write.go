package modbus

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// Write writes raw values, one error per item in order: an
// *AddressError or *plc.ConversionError for items refused before
// sending, ErrReadOnlyTable for input registers and discrete inputs,
// ErrBitWrite for a bit in a register unless Config.ReadModifyWrite, an
// *ExceptionError for items the device refused, plc.ErrNotConnected
// (wrapped) when it could not be reached. A value of several registers
// is written in one FC16 request, so the device takes it whole (a STRING
// of more than 123 registers needs two); one register or coil is written
// with FC06 or FC05 when Config.SingleWrites, else FC16 or FC15.
func (d *Driver) Write(ctx context.Context, items []plc.WriteItem) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		if d.closed.Load() {
			errs[i] = plc.ErrClosed
			continue
		}
		a, err := ParseAddress(it.Tag.Address, it.Tag.Type, d.ad)
		if err != nil {
			errs[i] = err
			continue
		}
		errs[i] = d.write(ctx, a, it.Value)
	}
	return errs
}

func (d *Driver) write(ctx context.Context, a Address, v plc.Value) error {
	if !a.Table.Writable() {
		return fmt.Errorf("%w: %s", ErrReadOnlyTable, a)
	}
	if a.Table == Coils {
		b, err := plc.Convert(v, plc.TypeBool)
		if err != nil {
			return err
		}
		if d.cfg.SingleWrites {
			val := uint16(0)
			if b.Bool() {
				val = 0xFF00
			}
			return d.send(ctx, a.Unit, wire.WriteSingle(wire.FCWriteSingleCoil, a.Register, val))
		}
		data := []byte{0}
		if b.Bool() {
			data[0] = 1
		}
		return d.send(ctx, a.Unit, wire.WriteMultiple(wire.FCWriteMultipleCoils, a.Register, 1, data))
	}
	if a.Bit >= 0 {
		return d.writeBit(ctx, a, v)
	}
	raw, err := a.Encode(v)
	if err != nil {
		return err
	}
	return d.writeRegisters(ctx, a.Unit, a.Register, raw)
}

// writeRegisters writes raw, whole registers as they travel, from reg on.
func (d *Driver) writeRegisters(ctx context.Context, unit uint8, reg uint16, raw []byte) error {
	if len(raw) == 2 && d.cfg.SingleWrites {
		return d.send(ctx, unit, wire.WriteSingle(wire.FCWriteSingleRegister, reg, binary.BigEndian.Uint16(raw)))
	}
	for off := 0; off < len(raw); off += 2 * wire.MaxWriteRegisters {
		chunk := raw[off:min(len(raw), off+2*wire.MaxWriteRegisters)]
		at := reg + uint16(off/2)
		if err := d.send(ctx, unit, wire.WriteMultiple(wire.FCWriteMultipleRegisters, at, uint16(len(chunk)/2), chunk)); err != nil {
			return err
		}
	}
	return nil
}

// writeBit changes one bit of a register by reading the register and
// writing it back, if the device allows it. It is not atomic.
func (d *Driver) writeBit(ctx context.Context, a Address, v plc.Value) error {
	if !d.cfg.ReadModifyWrite {
		return fmt.Errorf("%w: %s", ErrBitWrite, a)
	}
	b, err := plc.Convert(v, plc.TypeBool)
	if err != nil {
		return err
	}
	body, err := d.request(ctx, "read", a.Unit, wire.ReadRequest(a.Table.readFC(), a.Register, 1))
	if err != nil {
		return fmt.Errorf("modbus: %s: read before writing the bit: %w", a, err)
	}
	reg := a.SetBit(binary.BigEndian.Uint16(body), b.Bool())
	return d.writeRegisters(ctx, a.Unit, a.Register, binary.BigEndian.AppendUint16(nil, reg))
}

func (d *Driver) send(ctx context.Context, unit uint8, pdu []byte) error {
	_, err := d.request(ctx, "write", unit, pdu)
	if err != nil && !isException(err) && !isCtx(err) {
		return fmt.Errorf("%w: %w", plc.ErrNotConnected, err)
	}
	return err
}
