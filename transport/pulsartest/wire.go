package pulsartest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// Command types of the Pulsar binary protocol (BaseCommand.Type). In
// BaseCommand the field carrying a command has the same number as its type.
const (
	cmdConnect               = 2
	cmdConnected             = 3
	cmdSubscribe             = 4
	cmdProducer              = 5
	cmdSend                  = 6
	cmdSendReceipt           = 7
	cmdSendError             = 8
	cmdMessage               = 9
	cmdAck                   = 10
	cmdFlow                  = 11
	cmdUnsubscribe           = 12
	cmdSuccess               = 13
	cmdError                 = 14
	cmdCloseProducer         = 15
	cmdCloseConsumer         = 16
	cmdProducerSuccess       = 17
	cmdPing                  = 18
	cmdPong                  = 19
	cmdRedeliver             = 20
	cmdPartitionedMetadata   = 21
	cmdPartitionedMetaResp   = 22
	cmdLookup                = 23
	cmdLookupResponse        = 24
	cmdSeek                  = 28
	cmdGetLastMessageID      = 29
	cmdGetLastMessageIDResp  = 30
	cmdActiveConsumerChange  = 31
	cmdAckResponse           = 38
	maxKnownCommandType      = 68
	magicCRC32C              = 0x0e01
	magicBrokerEntryMetadata = 0x0e02
)

// ServerError is a Pulsar server error code (the protocol's ServerError
// enum) as sent in Error and SendError commands.
type ServerError int32

// Server error codes the broker sends.
const (
	UnknownError         ServerError = 0
	PersistenceError     ServerError = 2
	AuthenticationError  ServerError = 3
	AuthorizationError   ServerError = 4
	ConsumerBusy         ServerError = 5
	ServiceNotReady      ServerError = 6
	ChecksumError        ServerError = 9
	TopicNotFound        ServerError = 11
	SubscriptionNotFound ServerError = 12
	ConsumerNotFound     ServerError = 13
	ProducerBusy         ServerError = 16
	InvalidTopicName     ServerError = 17
	NotAllowedError      ServerError = 22
)

// Frame decoding errors.
var (
	ErrFrameTooLarge = errors.New("pulsartest: frame larger than the maximum")
	ErrBadFrame      = errors.New("pulsartest: malformed frame")
	ErrBadChecksum   = errors.New("pulsartest: payload checksum mismatch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// field is one decoded protobuf field: a varint/fixed value or the bytes of
// a length-delimited field.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// pmsg is a decoded protobuf message: its fields in wire order.
type pmsg []field

// parseMsg decodes the top level of a protobuf message without a schema.
// It counts the fields first so the result takes one allocation.
func parseMsg(b []byte) (pmsg, error) {
	n, err := walk(b, nil)
	if err != nil || n == 0 {
		return nil, err
	}
	m := make(pmsg, 0, n)
	_, err = walk(b, &m)
	return m, err
}

// walk scans the fields of b, appending them to out when it is not nil,
// and returns how many there are.
func walk(b []byte, out *pmsg) (int, error) {
	count := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: bad tag: %v", ErrBadFrame, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return 0, fmt.Errorf("%w: field %d: %v", ErrBadFrame, num, protowire.ParseError(n))
		}
		b = b[n:]
		count++
		if out != nil {
			*out = append(*out, f)
		}
	}
	return count, nil
}

func (m pmsg) get(n protowire.Number) (field, bool) {
	for i := len(m) - 1; i >= 0; i-- { // last one wins, as in protobuf
		if m[i].num == n {
			return m[i], true
		}
	}
	return field{}, false
}

func (m pmsg) u64(n protowire.Number) uint64 {
	f, _ := m.get(n)
	return f.v
}

func (m pmsg) has(n protowire.Number) bool {
	_, ok := m.get(n)
	return ok
}

func (m pmsg) str(n protowire.Number) string {
	f, _ := m.get(n)
	return string(f.b)
}

func (m pmsg) bytes(n protowire.Number) []byte {
	f, _ := m.get(n)
	return f.b
}

func (m pmsg) sub(n protowire.Number) (pmsg, error) {
	f, ok := m.get(n)
	if !ok {
		return nil, nil
	}
	if f.typ != protowire.BytesType {
		return nil, fmt.Errorf("%w: field %d is not a message", ErrBadFrame, n)
	}
	return parseMsg(f.b)
}

// subs decodes every occurrence of a repeated message field.
func (m pmsg) subs(n protowire.Number) ([]pmsg, error) {
	var out []pmsg
	for _, f := range m {
		if f.num != n {
			continue
		}
		if f.typ != protowire.BytesType {
			return nil, fmt.Errorf("%w: field %d is not a message", ErrBadFrame, n)
		}
		s, err := parseMsg(f.b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// enc builds a protobuf message.
type enc []byte

func (e enc) u(n protowire.Number, v uint64) enc {
	e = protowire.AppendTag(e, n, protowire.VarintType)
	return protowire.AppendVarint(e, v)
}

func (e enc) i(n protowire.Number, v int64) enc { return e.u(n, uint64(v)) }

func (e enc) s(n protowire.Number, v string) enc {
	e = protowire.AppendTag(e, n, protowire.BytesType)
	return protowire.AppendString(e, v)
}

func (e enc) m(n protowire.Number, v enc) enc {
	e = protowire.AppendTag(e, n, protowire.BytesType)
	return protowire.AppendBytes(e, v)
}

func (e enc) b(n protowire.Number, v bool) enc {
	if v {
		return e.u(n, 1)
	}
	return e.u(n, 0)
}

// msgID encodes a MessageIdData.
func msgID(ledger, entry uint64, batchIndex int32) enc {
	e := make(enc, 0, 24).u(1, ledger).u(2, entry)
	if batchIndex >= 0 {
		e = e.i(4, int64(batchIndex))
	}
	return e
}

// frame encodes a BaseCommand of type t carrying body, followed by payload
// (which must already start with the magic number), as one frame in one
// allocation.
func frame(t int, body enc, payload []byte) []byte {
	num := protowire.Number(t)
	cmdSize := protowire.SizeTag(1) + protowire.SizeVarint(uint64(t)) +
		protowire.SizeTag(num) + protowire.SizeBytes(len(body))
	total := 4 + cmdSize + len(payload)
	out := make([]byte, 0, 4+total)
	out = binary.BigEndian.AppendUint32(out, uint32(total))
	out = binary.BigEndian.AppendUint32(out, uint32(cmdSize))
	out = protowire.AppendTag(out, 1, protowire.VarintType)
	out = protowire.AppendVarint(out, uint64(t))
	out = protowire.AppendTag(out, num, protowire.BytesType)
	out = protowire.AppendBytes(out, body)
	return append(out, payload...)
}

// command is one decoded frame.
type command struct {
	typ     int
	body    pmsg   // the command's own message
	payload []byte // from the magic number on; nil for simple commands
}

// readFrame reads one frame from r. maxFrame bounds the size field.
func readFrame(r io.Reader, buf []byte, maxFrame int) (command, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return command{}, buf, err
	}
	total := binary.BigEndian.Uint32(hdr[:])
	if int64(total) > int64(maxFrame) {
		return command{}, buf, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, total, maxFrame)
	}
	if cap(buf) < int(total) {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return command{}, buf, err
	}
	c, err := decodeFrame(buf)
	return c, buf, err
}

// decodeFrame decodes a frame body (everything after the total size). The
// returned command aliases b.
func decodeFrame(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, fmt.Errorf("%w: %d bytes, no command size", ErrBadFrame, len(b))
	}
	cmdSize := binary.BigEndian.Uint32(b)
	if uint64(cmdSize) > uint64(len(b)-4) {
		return command{}, fmt.Errorf("%w: command size %d exceeds frame of %d", ErrBadFrame, cmdSize, len(b))
	}
	base, err := parseMsg(b[4 : 4+cmdSize])
	if err != nil {
		return command{}, err
	}
	t, ok := base.get(1)
	if !ok || t.typ != protowire.VarintType || t.v < cmdConnect || t.v > maxKnownCommandType {
		return command{}, fmt.Errorf("%w: missing or unknown command type", ErrBadFrame)
	}
	body, err := base.sub(protowire.Number(t.v))
	if err != nil {
		return command{}, err
	}
	c := command{typ: int(t.v), body: body}
	if rest := b[4+cmdSize:]; len(rest) > 0 {
		c.payload = rest
	}
	return c, nil
}

// payloadInfo is what the broker needs from a message payload.
type payloadInfo struct {
	meta        pmsg
	numMessages int
	key         string
}

// parsePayload checks the magic number and CRC32C of a payload (as it
// follows a Send command) and decodes its MessageMetadata.
func parsePayload(p []byte) (payloadInfo, error) {
	if len(p) >= 2 && binary.BigEndian.Uint16(p) == magicBrokerEntryMetadata {
		if len(p) < 6 {
			return payloadInfo{}, fmt.Errorf("%w: truncated broker entry metadata", ErrBadFrame)
		}
		n := binary.BigEndian.Uint32(p[2:])
		if uint64(n) > uint64(len(p)-6) {
			return payloadInfo{}, fmt.Errorf("%w: broker entry metadata size %d too large", ErrBadFrame, n)
		}
		p = p[6+n:]
	}
	if len(p) < 10 {
		return payloadInfo{}, fmt.Errorf("%w: payload of %d bytes too short", ErrBadFrame, len(p))
	}
	if m := binary.BigEndian.Uint16(p); m != magicCRC32C {
		return payloadInfo{}, fmt.Errorf("%w: payload magic %#04x, want %#04x", ErrBadFrame, m, magicCRC32C)
	}
	sum := binary.BigEndian.Uint32(p[2:])
	rest := p[6:]
	if got := crc32.Checksum(rest, castagnoli); got != sum {
		return payloadInfo{}, fmt.Errorf("%w: got %#08x, frame says %#08x", ErrBadChecksum, got, sum)
	}
	metaSize := binary.BigEndian.Uint32(rest)
	if uint64(metaSize) > uint64(len(rest)-4) {
		return payloadInfo{}, fmt.Errorf("%w: metadata size %d exceeds payload", ErrBadFrame, metaSize)
	}
	meta, err := parseMsg(rest[4 : 4+metaSize])
	if err != nil {
		return payloadInfo{}, fmt.Errorf("message metadata: %w", err)
	}
	info := payloadInfo{meta: meta, numMessages: 1, key: meta.str(6)}
	if meta.has(11) {
		n := int32(meta.u64(11))
		if n < 1 {
			return payloadInfo{}, fmt.Errorf("%w: num_messages_in_batch %d", ErrBadFrame, n)
		}
		info.numMessages = int(n)
	}
	if info.key == "" {
		info.key = string(meta.bytes(18)) // ordering key
	}
	return info, nil
}
