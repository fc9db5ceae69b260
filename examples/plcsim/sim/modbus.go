package sim

import (
	"encoding/binary"
	"fmt"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// The plant serves its S7 data blocks over Modbus TCP as holding
// registers: data block n is unit n (1..247), and register r (0-based)
// is bytes 2r and 2r+1 of the block, so S7's big-endian values read as
// Modbus's ABCD order. A client's Modbus write lands in the S7 memory and
// is mirrored into the OPC UA server like an S7 client's.
type modbusStore struct{ p *Plant }

func (m modbusStore) ReadHolding(unit uint8, reg, n int) ([]uint16, error) {
	b, err := m.p.s7.ReadBytes(s7.AreaDB, int(unit), 2*reg, 2*n)
	if err != nil {
		return nil, err
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out, nil
}

func (m modbusStore) WriteHolding(unit uint8, reg int, vals []uint16) error {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	if err := m.p.s7.WriteBytes(s7.AreaDB, int(unit), 2*reg, b); err != nil {
		return err
	}
	m.p.onS7Write(s7sim.WriteEvent{Area: s7.AreaDB, DB: int(unit), Offset: 2 * reg, Length: len(b), Bit: -1})
	return nil
}

// ModbusAddress returns the Modbus address (unit!HRn:TYPE, 1-based) at
// which the plant serves an S7 data-block address, or false for
// addresses Modbus cannot reach: other areas, data blocks above 247, and
// bytes, strings and numbers that start at an odd byte.
func ModbusAddress(a s7.Address) (string, bool) {
	if a.Area != s7.AreaDB || a.DB < 1 || a.DB > 247 {
		return "", false
	}
	reg := a.Offset/2 + 1
	switch k := a.Type.Kind; {
	case k == plc.Bool:
		bit := a.Bit
		if a.Offset%2 == 0 {
			bit += 8 // the even byte is the register's high byte
		}
		return fmt.Sprintf("%d!HR%d.%d", a.DB, reg, bit), true
	case a.Offset%2 != 0:
		return "", false
	case k == plc.String:
		// The S7 string's two header bytes take the first register.
		return fmt.Sprintf("%d!HR%d:STRING[%d]", a.DB, reg+1, a.Type.Len), true
	case k.Bits() >= 16:
		return fmt.Sprintf("%d!HR%d:%s", a.DB, reg, a.Type), true
	}
	return "", false
}
