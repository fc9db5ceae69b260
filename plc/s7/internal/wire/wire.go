package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// S7 protocol constants.
const (
	ProtocolID = 0x32

	// ROSCTR message types.
	RosctrJob      = 0x01
	RosctrAck      = 0x02
	RosctrAckData  = 0x03
	RosctrUserData = 0x07

	// Functions.
	FuncSetup = 0xF0
	FuncRead  = 0x04
	FuncWrite = 0x05

	// Areas.
	AreaI  = 0x81
	AreaQ  = 0x82
	AreaM  = 0x83
	AreaDB = 0x84

	// Transport sizes of a request item (the element type).
	TSBit  = 0x01
	TSByte = 0x02
	TSChar = 0x03
	TSWord = 0x04
	TSInt  = 0x05
	TSDWrd = 0x06
	TSDInt = 0x07
	TSReal = 0x08

	// Transport sizes of a data item (response of a read, data of a
	// write).
	DataNull  = 0x00
	DataBit   = 0x03 // length in bits (1)
	DataByte  = 0x04 // length in bits
	DataInt   = 0x05 // length in bits
	DataReal  = 0x07 // length in bytes
	DataOctet = 0x09 // length in bytes

	// Item return codes.
	RCReserved           = 0x00
	RCHardwareFault      = 0x01
	RCAccessDenied       = 0x03
	RCAddressOutOfRange  = 0x05
	RCTypeNotSupported   = 0x06
	RCTypeInconsistent   = 0x07
	RCObjectDoesNotExist = 0x0A
	RCSuccess            = 0xFF

	// HeaderLen is the S7 header of a job; AckHeaderLen adds the two
	// error bytes of an ack-data.
	HeaderLen    = 10
	AckHeaderLen = 12
	// ItemSpecLen is one item's variable specification in a request.
	ItemSpecLen = 12
	// DataItemHeaderLen precedes each item's data: return code or
	// reserved byte, transport size, length.
	DataItemHeaderLen = 4
	// IsoHeaderLen is TPKT (4) plus the COTP data header (3).
	IsoHeaderLen = 7
	// MaxAddress is the largest byte offset a 3-byte bit address holds.
	MaxAddress = 1<<21 - 1
)

// ErrShort is returned when a telegram ends early.
var ErrShort = errors.New("s7 wire: telegram too short")

// Item is the variable specification of one request item (S7ANY).
type Item struct {
	TS    byte   // request transport size: TSBit or TSByte (others accepted from peers)
	Count uint16 // number of elements
	DB    uint16 // data block number, 0 outside DBs
	Area  byte
	Start int // byte offset
	Bit   int // bit 0..7, only for TSBit
}

// ElemSize returns the bytes of one element of a request transport size,
// 0 when unknown.
func ElemSize(ts byte) int {
	switch ts {
	case TSBit, TSByte, TSChar:
		return 1
	case TSWord, TSInt:
		return 2
	case TSDWrd, TSDInt, TSReal:
		return 4
	}
	return 0
}

// DataLen returns the bytes of data an item transfers.
func (it Item) DataLen() int { return int(it.Count) * ElemSize(it.TS) }

// Padded returns n rounded up to even: items' data is padded to even
// length in a telegram (the last one may go without, but a planner
// counts it).
func Padded(n int) int { return n + n&1 }

// ReadRequestSize is the PDU size of a Read Var job of n items.
func ReadRequestSize(n int) int { return HeaderLen + 2 + n*ItemSpecLen }

// ReadResponseSize is the PDU size of the answer to a Read Var of items
// with the given data lengths, counting padding after every item.
func ReadResponseSize(dataLens ...int) int {
	n := AckHeaderLen + 2
	for _, l := range dataLens {
		n += DataItemHeaderLen + Padded(l)
	}
	return n
}

// WriteRequestSize is the PDU size of a Write Var job with items of the
// given data lengths.
func WriteRequestSize(dataLens ...int) int {
	n := HeaderLen + 2 + len(dataLens)*ItemSpecLen
	for _, l := range dataLens {
		n += DataItemHeaderLen + Padded(l)
	}
	return n
}

// WriteResponseSize is the PDU size of the answer to a Write Var of n
// items.
func WriteResponseSize(n int) int { return AckHeaderLen + 2 + n }

// Frame wraps an S7 PDU in TPKT and COTP data headers.
func Frame(pdu []byte) []byte {
	f := make([]byte, IsoHeaderLen+len(pdu))
	f[0], f[1] = 3, 0
	binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
	f[4], f[5], f[6] = 2, 0xF0, 0x80
	copy(f[IsoHeaderLen:], pdu)
	return f
}

// putItem appends a variable specification.
func putItem(b []byte, it Item) []byte {
	addr := it.Start << 3
	if it.TS == TSBit {
		addr |= it.Bit & 7
	}
	b = append(b, 0x12, 0x0A, 0x10, it.TS)
	b = binary.BigEndian.AppendUint16(b, it.Count)
	b = binary.BigEndian.AppendUint16(b, it.DB)
	return append(b, it.Area, byte(addr>>16), byte(addr>>8), byte(addr))
}

// header appends a job header.
func header(b []byte, ref uint16, paramLen, dataLen int) []byte {
	b = append(b, ProtocolID, RosctrJob, 0, 0)
	b = binary.BigEndian.AppendUint16(b, ref)
	b = binary.BigEndian.AppendUint16(b, uint16(paramLen))
	return binary.BigEndian.AppendUint16(b, uint16(dataLen))
}

// ReadRequest encodes a Read Var job.
func ReadRequest(ref uint16, items []Item) []byte {
	b := make([]byte, 0, ReadRequestSize(len(items)))
	b = header(b, ref, 2+len(items)*ItemSpecLen, 0)
	b = append(b, FuncRead, byte(len(items)))
	for _, it := range items {
		b = putItem(b, it)
	}
	return b
}

// WriteRequest encodes a Write Var job; data[i] is item i's data, whose
// length must be items[i].DataLen().
func WriteRequest(ref uint16, items []Item, data [][]byte) []byte {
	lens := make([]int, len(items))
	for i := range items {
		lens[i] = len(data[i])
	}
	b := make([]byte, 0, WriteRequestSize(lens...))
	dataLen := 0
	for i, l := range lens {
		dataLen += DataItemHeaderLen + l
		if i < len(lens)-1 {
			dataLen += l & 1
		}
	}
	b = header(b, ref, 2+len(items)*ItemSpecLen, dataLen)
	b = append(b, FuncWrite, byte(len(items)))
	for _, it := range items {
		b = putItem(b, it)
	}
	for i, it := range items {
		ts, n := byte(DataByte), len(data[i])*8
		if it.TS == TSBit {
			ts, n = DataBit, len(data[i])
		}
		b = append(b, 0, ts)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, data[i]...)
		if i < len(items)-1 && len(data[i])&1 == 1 {
			b = append(b, 0)
		}
	}
	return b
}

// HeaderError is an error class and code in an ack-data header: the
// whole job was refused (PUT/GET disabled, bad PDU, …).
type HeaderError struct {
	Class, Code byte
}

// Error implements error.
func (e *HeaderError) Error() string {
	return fmt.Sprintf("s7: job refused with error class 0x%02x code 0x%02x (%s)", e.Class, e.Code, ClassText(e.Class))
}

// ClassText names an S7 header error class.
func ClassText(c byte) string {
	switch c {
	case 0x81:
		return "application relationship error"
	case 0x82:
		return "object definition error"
	case 0x83:
		return "no resources available"
	case 0x84:
		return "error on service processing"
	case 0x85:
		return "error on supplies"
	case 0x87:
		return "access error"
	}
	return "unknown error class"
}

// Ack is the parsed header of an ack-data.
type Ack struct {
	Ref      uint16
	Param    []byte
	Data     []byte
	HdrError *HeaderError
}

// ParseAck parses an ack-data PDU (without TPKT/COTP).
func ParseAck(pdu []byte) (Ack, error) {
	if len(pdu) < AckHeaderLen {
		return Ack{}, ErrShort
	}
	if pdu[0] != ProtocolID {
		return Ack{}, fmt.Errorf("s7 wire: protocol id 0x%02x, want 0x32", pdu[0])
	}
	if pdu[1] != RosctrAckData && pdu[1] != RosctrAck {
		return Ack{}, fmt.Errorf("s7 wire: message type 0x%02x, want ack-data", pdu[1])
	}
	pl := int(binary.BigEndian.Uint16(pdu[6:]))
	dl := int(binary.BigEndian.Uint16(pdu[8:]))
	if AckHeaderLen+pl+dl > len(pdu) {
		return Ack{}, fmt.Errorf("s7 wire: lengths %d+%d exceed telegram of %d bytes: %w", pl, dl, len(pdu), ErrShort)
	}
	a := Ack{
		Ref:   binary.BigEndian.Uint16(pdu[4:]),
		Param: pdu[AckHeaderLen : AckHeaderLen+pl],
		Data:  pdu[AckHeaderLen+pl : AckHeaderLen+pl+dl],
	}
	if pdu[10] != 0 || pdu[11] != 0 {
		a.HdrError = &HeaderError{Class: pdu[10], Code: pdu[11]}
	}
	return a, nil
}

// ItemData is one item of a Read Var answer.
type ItemData struct {
	Code byte // RCSuccess or an error code
	Data []byte
}

// ParseReadResponse parses the answer to a Read Var of n items.
func ParseReadResponse(pdu []byte, n int) (ref uint16, items []ItemData, err error) {
	a, err := ParseAck(pdu)
	if err != nil {
		return 0, nil, err
	}
	if a.HdrError != nil {
		return a.Ref, nil, a.HdrError
	}
	if len(a.Param) < 2 || a.Param[0] != FuncRead {
		return a.Ref, nil, fmt.Errorf("s7 wire: read answer has parameter % x", a.Param)
	}
	if int(a.Param[1]) != n {
		return a.Ref, nil, fmt.Errorf("s7 wire: read answer has %d items, want %d", a.Param[1], n)
	}
	items = make([]ItemData, n)
	d := a.Data
	for i := range n {
		if len(d) < DataItemHeaderLen {
			if len(d) >= 1 && d[0] != RCSuccess {
				items[i].Code = d[0] // some CPUs send only the code of a failed last item
				d = nil
				continue
			}
			return a.Ref, nil, fmt.Errorf("s7 wire: read answer item %d: %w", i, ErrShort)
		}
		code, ts := d[0], d[1]
		l := int(binary.BigEndian.Uint16(d[2:]))
		items[i].Code = code
		if code != RCSuccess {
			d = d[DataItemHeaderLen:]
			continue
		}
		switch ts {
		case DataByte, DataInt:
			l /= 8
		case DataBit, DataReal, DataOctet:
		default:
			return a.Ref, nil, fmt.Errorf("s7 wire: read answer item %d has transport size 0x%02x", i, ts)
		}
		if DataItemHeaderLen+l > len(d) {
			return a.Ref, nil, fmt.Errorf("s7 wire: read answer item %d of %d bytes: %w", i, l, ErrShort)
		}
		items[i].Data = d[DataItemHeaderLen : DataItemHeaderLen+l]
		d = d[min(len(d), DataItemHeaderLen+Padded(l)):]
	}
	return a.Ref, items, nil
}

// ParseWriteResponse parses the answer to a Write Var of n items into one
// return code per item.
func ParseWriteResponse(pdu []byte, n int) (ref uint16, codes []byte, err error) {
	a, err := ParseAck(pdu)
	if err != nil {
		return 0, nil, err
	}
	if a.HdrError != nil {
		return a.Ref, nil, a.HdrError
	}
	if len(a.Param) < 2 || a.Param[0] != FuncWrite {
		return a.Ref, nil, fmt.Errorf("s7 wire: write answer has parameter % x", a.Param)
	}
	if int(a.Param[1]) != n || len(a.Data) < n {
		return a.Ref, nil, fmt.Errorf("s7 wire: write answer has %d items and %d codes, want %d", a.Param[1], len(a.Data), n)
	}
	return a.Ref, a.Data[:n], nil
}

// Job is a parsed job request, as a server sees it.
type Job struct {
	Ref  uint16
	Func byte
	// Items are the variable specifications of a Read or Write Var.
	Items []Item
	// Data holds a Write Var's data per item, DataTS its transport sizes.
	Data   [][]byte
	DataTS []byte
	// PDU is the PDU size a setup communication proposes, Jobs its max
	// AmQ calling: the jobs the client would keep outstanding at once.
	PDU  int
	Jobs int
}

// ParseJob parses a job PDU (without TPKT/COTP): setup communication,
// Read Var or Write Var. It never panics on garbage; it returns an error
// naming the first thing wrong.
func ParseJob(pdu []byte) (Job, error) {
	if len(pdu) < HeaderLen+1 {
		return Job{}, ErrShort
	}
	if pdu[0] != ProtocolID {
		return Job{}, fmt.Errorf("s7 wire: protocol id 0x%02x, want 0x32", pdu[0])
	}
	if pdu[1] != RosctrJob {
		return Job{}, fmt.Errorf("s7 wire: message type 0x%02x, want job", pdu[1])
	}
	pl := int(binary.BigEndian.Uint16(pdu[6:]))
	dl := int(binary.BigEndian.Uint16(pdu[8:]))
	if HeaderLen+pl+dl != len(pdu) {
		return Job{}, fmt.Errorf("s7 wire: lengths %d+%d do not match telegram of %d bytes", pl, dl, len(pdu))
	}
	j := Job{Ref: binary.BigEndian.Uint16(pdu[4:])}
	param := pdu[HeaderLen : HeaderLen+pl]
	data := pdu[HeaderLen+pl:]
	if len(param) < 2 {
		return j, fmt.Errorf("s7 wire: parameter of %d bytes: %w", len(param), ErrShort)
	}
	j.Func = param[0]
	switch j.Func {
	case FuncSetup:
		if len(param) < 8 {
			return j, fmt.Errorf("s7 wire: setup parameter of %d bytes: %w", len(param), ErrShort)
		}
		j.PDU = int(binary.BigEndian.Uint16(param[6:]))
		j.Jobs = int(binary.BigEndian.Uint16(param[2:]))
		return j, nil
	case FuncRead, FuncWrite:
	default:
		return j, fmt.Errorf("s7 wire: unsupported function 0x%02x", j.Func)
	}
	n := int(param[1])
	if len(param) != 2+n*ItemSpecLen {
		return j, fmt.Errorf("s7 wire: %d items need %d parameter bytes, have %d", n, 2+n*ItemSpecLen, len(param))
	}
	j.Items = make([]Item, n)
	for i := range n {
		s := param[2+i*ItemSpecLen:]
		if s[0] != 0x12 || s[1] != 0x0A || s[2] != 0x10 {
			return j, fmt.Errorf("s7 wire: item %d is not an S7ANY specification (% x)", i, s[:3])
		}
		addr := int(s[9])<<16 | int(s[10])<<8 | int(s[11])
		j.Items[i] = Item{
			TS:    s[3],
			Count: binary.BigEndian.Uint16(s[4:]),
			DB:    binary.BigEndian.Uint16(s[6:]),
			Area:  s[8],
			Start: addr >> 3,
			Bit:   addr & 7,
		}
	}
	if j.Func == FuncRead {
		if len(data) != 0 {
			return j, fmt.Errorf("s7 wire: read job carries %d data bytes", len(data))
		}
		return j, nil
	}
	j.Data = make([][]byte, n)
	j.DataTS = make([]byte, n)
	for i := range n {
		if len(data) < DataItemHeaderLen {
			return j, fmt.Errorf("s7 wire: write data item %d: %w", i, ErrShort)
		}
		ts := data[1]
		l := int(binary.BigEndian.Uint16(data[2:]))
		switch ts {
		case DataByte, DataInt:
			if l%8 != 0 {
				return j, fmt.Errorf("s7 wire: write data item %d has %d bits, not whole bytes", i, l)
			}
			l /= 8
		case DataBit, DataReal, DataOctet:
		default:
			return j, fmt.Errorf("s7 wire: write data item %d has transport size 0x%02x", i, ts)
		}
		if DataItemHeaderLen+l > len(data) {
			return j, fmt.Errorf("s7 wire: write data item %d of %d bytes: %w", i, l, ErrShort)
		}
		j.DataTS[i] = ts
		j.Data[i] = data[DataItemHeaderLen : DataItemHeaderLen+l]
		data = data[min(len(data), DataItemHeaderLen+Padded(l)):]
	}
	return j, nil
}

// AckData encodes an ack-data PDU answering ref.
func AckData(ref uint16, class, code byte, param, data []byte) []byte {
	b := make([]byte, 0, AckHeaderLen+len(param)+len(data))
	b = append(b, ProtocolID, RosctrAckData, 0, 0)
	b = binary.BigEndian.AppendUint16(b, ref)
	b = binary.BigEndian.AppendUint16(b, uint16(len(param)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, class, code)
	b = append(b, param...)
	return append(b, data...)
}

// COTP TPDU codes (ISO 8073 class 0).
const (
	COTPConnRequest = 0xE0
	COTPConnConfirm = 0xD0
	COTPDisconnect  = 0x80
	COTPData        = 0xF0
	// COTPEOT marks the last data TPDU of an S7 PDU.
	COTPEOT = 0x80
)

// ConnectRequest encodes a TPKT frame carrying a COTP connection request
// from the local to the remote TSAP, offering TPDUs of 1024 bytes.
func ConnectRequest(local, remote uint16) []byte {
	return []byte{3, 0, 0, 22, 17, COTPConnRequest, 0, 0, 0, 1, 0,
		0xC0, 1, 0x0A,
		0xC1, 2, byte(local >> 8), byte(local),
		0xC2, 2, byte(remote >> 8), byte(remote)}
}

// TPDU splits a TPKT frame into its COTP TPDU code, the flags byte that
// follows it (EOT for data), and the user data after the COTP header.
func TPDU(frame []byte) (code, flags byte, data []byte, err error) {
	if len(frame) < IsoHeaderLen-1 || frame[0] != 3 || int(binary.BigEndian.Uint16(frame[2:])) != len(frame) {
		return 0, 0, nil, fmt.Errorf("s7 wire: not a TPKT frame (% x)", frame[:min(len(frame), 4)])
	}
	li := int(frame[4])
	if li < 1 || 5+li > len(frame) {
		return 0, 0, nil, fmt.Errorf("s7 wire: COTP header length %d in a frame of %d bytes", li, len(frame))
	}
	if li >= 2 {
		flags = frame[6]
	}
	return frame[5], flags, frame[5+li:], nil
}

// SetupRequest encodes a setup communication job proposing a PDU size
// and how many jobs may be outstanding at once each way (max AmQ calling
// and called).
func SetupRequest(ref uint16, pdu, jobs int) []byte {
	b := make([]byte, 0, HeaderLen+8)
	b = header(b, ref, 8, 0)
	return append(b, FuncSetup, 0, byte(jobs>>8), byte(jobs), byte(jobs>>8), byte(jobs), byte(pdu>>8), byte(pdu))
}

// SetupParam is the parameter of an answer to a setup communication: the answer to a setup
// communication, granting a PDU size and jobs outstanding each way.
func SetupParam(pdu, jobs int) []byte {
	return []byte{FuncSetup, 0, byte(jobs >> 8), byte(jobs), byte(jobs >> 8), byte(jobs), byte(pdu >> 8), byte(pdu)}
}

// ParseSetupResponse returns what the answer to a setup communication
// grants: the PDU size and the jobs the client may keep outstanding at
// once (max AmQ calling; at least 1).
func ParseSetupResponse(pdu []byte) (ref uint16, size, jobs int, err error) {
	a, err := ParseAck(pdu)
	if err != nil {
		return 0, 0, 0, err
	}
	if a.HdrError != nil {
		return a.Ref, 0, 0, a.HdrError
	}
	if len(a.Param) < 8 || a.Param[0] != FuncSetup {
		return a.Ref, 0, 0, fmt.Errorf("s7 wire: setup answer has parameter % x", a.Param)
	}
	return a.Ref, int(binary.BigEndian.Uint16(a.Param[6:])), max(1, int(binary.BigEndian.Uint16(a.Param[2:]))), nil
}
