package s7sim

import (
	"encoding/binary"
	"fmt"

	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// The identity the server reports in system status lists.
const (
	cpuASName     = "kiln s7sim"
	cpuModuleName = "s7sim CPU"
	cpuPlantID    = "kiln"
	cpuCopyright  = "kiln s7sim, simulated"
	cpuSerial     = "S7SIM-0000001"
	cpuModuleType = "s7sim CPU (simulated S7)"
)

// userData answers a user-data job: the system status list (SZL) reads
// clients use for CPU information (SZL 0x001C), communication limits
// (0x0131) and the operating mode (0x0424). Other user-data functions
// close the connection, as unsupported.
func (s *Server) userData(st *connState, pdu []byte) ([]byte, bool) {
	if len(pdu) < wire.HeaderLen {
		return nil, true
	}
	pl := int(binary.BigEndian.Uint16(pdu[6:]))
	dl := int(binary.BigEndian.Uint16(pdu[8:]))
	if wire.HeaderLen+pl+dl != len(pdu) || pl < 8 || dl < 8 {
		return nil, true
	}
	param := pdu[wire.HeaderLen : wire.HeaderLen+pl]
	data := pdu[wire.HeaderLen+pl:]
	// Request, CPU functions, read SZL.
	if param[4] != 0x11 || param[5] != 0x44 || param[6] != 0x01 || data[0] != 0xFF {
		return nil, true
	}
	ref := binary.BigEndian.Uint16(pdu[4:])
	id, index := binary.BigEndian.Uint16(data[4:]), binary.BigEndian.Uint16(data[6:])
	recLen, records := s.szl(st, id)
	var errCode uint16
	rc := byte(wire.RCSuccess)
	if records == nil {
		errCode, rc = 0xD401, wire.RCObjectDoesNotExist // invalid SZL ID
	}
	out := []byte{wire.ProtocolID, wire.RosctrUserData, 0, 0, byte(ref >> 8), byte(ref), 0, 12, 0, 0}
	out = append(out, 0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, param[7], 0x00, 0x00)
	out = binary.BigEndian.AppendUint16(out, errCode)
	out = append(out, rc, 0x09)
	out = binary.BigEndian.AppendUint16(out, uint16(8+len(records)))
	out = binary.BigEndian.AppendUint16(out, id)
	out = binary.BigEndian.AppendUint16(out, index)
	out = binary.BigEndian.AppendUint16(out, uint16(recLen))
	n := 0
	if recLen > 0 {
		n = len(records) / recLen
	}
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	out = append(out, records...)
	binary.BigEndian.PutUint16(out[8:], uint16(len(out)-wire.HeaderLen-12))
	if len(out) > st.pdu {
		s.violations.Add(1)
		return nil, true
	}
	return wire.Frame(out), false
}

// szl returns the record length and records of a system status list, nil
// for an unknown one.
func (s *Server) szl(st *connState, id uint16) (int, []byte) {
	switch id {
	case 0x001C: // component identification
		var b []byte
		for _, r := range []struct {
			index uint16
			text  string
		}{{1, cpuASName}, {2, cpuModuleName}, {3, cpuPlantID}, {4, cpuCopyright}, {5, cpuSerial}, {7, cpuModuleType}} {
			rec := []byte(fmt.Sprintf("..%-32s", r.text)) // texts padded with blanks
			binary.BigEndian.PutUint16(rec, r.index)
			b = append(b, rec...)
		}
		return 34, b
	case 0x0131: // communication capability: PDU size, connections, rates
		rec := make([]byte, 40)
		binary.BigEndian.PutUint16(rec, 0x0001)
		binary.BigEndian.PutUint16(rec[2:], uint16(s.cfg.MaxPDU))
		binary.BigEndian.PutUint16(rec[4:], 32)
		binary.BigEndian.PutUint32(rec[6:], 187500)
		binary.BigEndian.PutUint32(rec[10:], 12000000)
		return 40, rec
	case 0x0424: // operating mode: always RUN
		rec := make([]byte, 20)
		binary.BigEndian.PutUint16(rec, 0x4433)
		rec[2], rec[3] = 0xFF, 0x08
		return 20, rec
	}
	return 0, nil
}
