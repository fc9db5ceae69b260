package s7sim

import (
	"encoding/binary"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// connState is what the server knows of one connection.
type connState struct {
	connected bool   // COTP connection confirmed
	pdu       int    // negotiated PDU size, 0 before setup communication
	remote    string // the client's address
	tsap      uint16 // the client's TSAP, from its connection request
	jobs      int    // jobs granted to be outstanding at once
	job       bool   // the frame just processed was a Read or Write Var
}

// COTP TPDU codes.
const (
	cotpCR = 0xE0
	cotpCC = 0xD0
	cotpDR = 0x80
	cotpDT = 0xF0
)

// classSupplies is the header error class of a request that breaks the
// negotiated limits (too large, or too many items).
const classSupplies = 0x85

// process answers one TPKT frame. It returns the answer (nil for none)
// and whether to close the connection. It never panics on garbage: a
// frame it cannot make sense of closes the connection, as a CPU does.
func (s *Server) process(st *connState, frame []byte) (resp []byte, closeConn bool) {
	if len(frame) < wire.IsoHeaderLen || frame[0] != 3 || int(binary.BigEndian.Uint16(frame[2:])) != len(frame) {
		return nil, true
	}
	li := int(frame[4])
	if li < 2 || 5+li > len(frame) {
		return nil, true
	}
	switch frame[5] {
	case cotpCR:
		return s.connect(st, frame[4:5+li])
	case cotpDT:
		if !st.connected {
			return nil, true
		}
		return s.job(st, frame[5+li:])
	}
	return nil, true // disconnect request or unknown TPDU
}

// isVarJob reports whether a whole TPKT frame carries a Read or Write
// Var job.
func isVarJob(frame []byte) bool {
	li := int(frame[4])
	if frame[5] != cotpDT || 5+li+wire.HeaderLen >= len(frame) {
		return false
	}
	pdu := frame[5+li:]
	f := pdu[wire.HeaderLen]
	return pdu[0] == wire.ProtocolID && pdu[1] == wire.RosctrJob && (f == wire.FuncRead || f == wire.FuncWrite)
}

// connect answers a COTP connection request, checking the remote TSAP.
func (s *Server) connect(st *connState, cotp []byte) ([]byte, bool) {
	if len(cotp) < 7 {
		return nil, true
	}
	srcRef := cotp[4:6]
	var tpdu byte = 0x0A
	var srcTSAP, dstTSAP []byte
	for p := cotp[7:]; len(p) >= 2; {
		code, n := p[0], int(p[1])
		if 2+n > len(p) {
			return nil, true
		}
		v := p[2 : 2+n]
		switch code {
		case 0xC0:
			if n == 1 {
				tpdu = v[0]
			}
		case 0xC1:
			srcTSAP = v
		case 0xC2:
			dstTSAP = v
		}
		p = p[2+n:]
	}
	if len(srcTSAP) != 2 || len(dstTSAP) != 2 || !s.tsapOK(dstTSAP) ||
		(s.cfg.LocalTSAP != 0 && binary.BigEndian.Uint16(srcTSAP) != s.cfg.LocalTSAP) {
		s.log.Debug("s7sim: connection refused: TSAPs", zap.Binary("local", srcTSAP), zap.Binary("remote", dstTSAP))
		dr := []byte{3, 0, 0, 11, 6, cotpDR, srcRef[0], srcRef[1], 0, 1, 0}
		return dr, true
	}
	st.connected = true
	st.tsap = binary.BigEndian.Uint16(srcTSAP)
	cc := []byte{3, 0, 0, 22, 17, cotpCC, srcRef[0], srcRef[1], 0, 1, 0,
		0xC0, 1, tpdu, 0xC1, 2, srcTSAP[0], srcTSAP[1], 0xC2, 2, dstTSAP[0], dstTSAP[1]}
	return cc, false
}

// tsapOK checks a remote TSAP: connection type PG, OP or basic, and this
// CPU's rack and slot.
func (s *Server) tsapOK(t []byte) bool {
	ct, rack, slot := int(t[0]), int(t[1])>>5, int(t[1])&0x1F
	if ct < 1 || ct > 3 || rack != s.cfg.Rack {
		return false
	}
	if s.cfg.Slot <= 1 {
		return slot <= 1
	}
	return slot == s.cfg.Slot
}

// job answers an S7 PDU.
func (s *Server) job(st *connState, pdu []byte) ([]byte, bool) {
	if len(pdu) >= 2 && pdu[0] == wire.ProtocolID && pdu[1] == wire.RosctrUserData && st.pdu > 0 {
		return s.userData(st, pdu)
	}
	j, err := wire.ParseJob(pdu)
	if err != nil {
		s.log.Debug("s7sim: bad job, closing", zap.Error(err))
		return nil, true
	}
	if j.Func == wire.FuncSetup {
		n := min(max(j.PDU, 64), s.cfg.MaxPDU)
		st.pdu = n
		st.jobs = min(max(j.Jobs, 1), s.cfg.MaxJobs)
		return wire.Frame(wire.AckData(j.Ref, 0, 0, wire.SetupParam(n, st.jobs), nil)), false
	}
	if st.pdu == 0 {
		return nil, true // read or write before setup communication
	}
	s.requests.Add(1)
	st.job = true
	if d := s.dropAfter.Load(); d > 0 {
		if s.dropAfter.Add(-1) == 0 {
			return nil, true
		}
	}
	if je := s.jobErr.Load(); je != 0 {
		return wire.Frame(wire.AckData(j.Ref, byte(je>>8), byte(je), []byte{j.Func, 0}, nil)), false
	}
	if len(pdu) > st.pdu || len(j.Items) > s.cfg.MaxItems {
		s.violations.Add(1)
		return wire.Frame(wire.AckData(j.Ref, classSupplies, 0, []byte{j.Func, 0}, nil)), false
	}
	var resp []byte
	if j.Func == wire.FuncRead {
		resp = s.read(j)
	} else {
		resp = s.write(st, j)
	}
	if len(resp) > st.pdu {
		s.violations.Add(1)
		return wire.Frame(wire.AckData(j.Ref, classSupplies, 0, []byte{j.Func, 0}, nil)), false
	}
	return wire.Frame(resp), false
}

// check returns the return code for accessing n bytes of an item.
// The caller holds s.mu.
func (s *Server) check(it wire.Item, n int) ([]byte, byte) {
	area := s7.Area(it.Area)
	switch area {
	case s7.AreaDB, s7.AreaM, s7.AreaI, s7.AreaQ:
	default:
		return nil, wire.RCObjectDoesNotExist
	}
	es := wire.ElemSize(it.TS)
	switch {
	case es == 0:
		return nil, wire.RCTypeNotSupported
	case it.TS == wire.TSBit && it.Count != 1:
		return nil, wire.RCTypeNotSupported
	case it.TS != wire.TSBit && it.Bit != 0:
		return nil, wire.RCAddressOutOfRange
	}
	m, ok := s.mem[memKey{area, dbOf(area, int(it.DB))}]
	if !ok {
		return nil, wire.RCObjectDoesNotExist
	}
	if it.Start+n > len(m) || n == 0 {
		return nil, wire.RCAddressOutOfRange
	}
	if errs := s.itemErrs[memKey{area, dbOf(area, int(it.DB))}]; len(errs) > 0 {
		for off, code := range errs {
			if off >= it.Start && off < it.Start+n {
				return nil, code
			}
		}
	}
	return m[it.Start : it.Start+n], wire.RCSuccess
}

func (s *Server) read(j wire.Job) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var data []byte
	for i, it := range j.Items {
		m, code := s.check(it, it.DataLen())
		if code != wire.RCSuccess {
			data = append(data, code, wire.DataNull, 0, 0)
			continue
		}
		if it.TS == wire.TSBit {
			data = append(data, code, wire.DataBit, 0, 1, m[0]>>it.Bit&1)
		} else {
			data = append(data, code, wire.DataByte)
			data = binary.BigEndian.AppendUint16(data, uint16(len(m)*8))
			data = append(data, m...)
		}
		if i < len(j.Items)-1 && len(data)&1 == 1 {
			data = append(data, 0)
		}
	}
	return wire.AckData(j.Ref, 0, 0, []byte{wire.FuncRead, byte(len(j.Items))}, data)
}

func (s *Server) write(st *connState, j wire.Job) []byte {
	codes := make([]byte, len(j.Items))
	var events []WriteEvent
	s.mu.Lock()
	for i, it := range j.Items {
		m, code := s.check(it, it.DataLen())
		d := j.Data[i]
		if code == wire.RCSuccess && len(d) != len(m) {
			code = wire.RCTypeInconsistent
		}
		if code == wire.RCSuccess && it.TS == wire.TSBit && (j.DataTS[i] != wire.DataBit || d[0] > 1) {
			code = wire.RCTypeInconsistent
		}
		codes[i] = code
		if code != wire.RCSuccess {
			continue
		}
		s.writeSeq++
		ev := WriteEvent{Area: s7.Area(it.Area), DB: dbOf(s7.Area(it.Area), int(it.DB)), Offset: it.Start, Length: len(m), Bit: -1,
			Client: st.remote, ClientTSAP: st.tsap, Seq: s.writeSeq}
		if it.TS == wire.TSBit {
			m[0] = m[0]&^(1<<it.Bit) | d[0]<<it.Bit
			ev.Bit = it.Bit
		} else {
			copy(m, d)
		}
		ev.Data = append([]byte(nil), m...)
		events = append(events, ev)
	}
	s.mu.Unlock()
	if s.onWrite != nil {
		for _, ev := range events {
			s.onWrite(ev)
		}
	}
	return wire.AckData(j.Ref, 0, 0, []byte{wire.FuncWrite, byte(len(j.Items))}, codes)
}
