package spool

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kiln-iot/kiln/transport"
)

// A transport.Message is stored in a record in the protobuf encoding of
//
//	message Message {
//	  string key = 1;
//	  bytes payload = 2;
//	  map<string, string> properties = 3;
//	  sfixed64 event_time_unix_nano = 4; // absent when zero
//	}
const (
	fieldKey       = 1
	fieldPayload   = 2
	fieldProps     = 3
	fieldEventTime = 4
)

// AppendMessage appends the record encoding of m to dst.
func AppendMessage(dst []byte, m transport.Message) []byte {
	if m.Key != "" {
		dst = protowire.AppendTag(dst, fieldKey, protowire.BytesType)
		dst = protowire.AppendString(dst, m.Key)
	}
	if len(m.Payload) > 0 {
		dst = protowire.AppendTag(dst, fieldPayload, protowire.BytesType)
		dst = protowire.AppendBytes(dst, m.Payload)
	}
	for k, v := range m.Properties {
		dst = protowire.AppendTag(dst, fieldProps, protowire.BytesType)
		n := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendString(dst, k)
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendString(dst, v)
	}
	if !m.EventTime.IsZero() {
		dst = protowire.AppendTag(dst, fieldEventTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, uint64(m.EventTime.UnixNano()))
	}
	return dst
}

// DecodeMessage decodes a record written by AppendMessage. The payload
// aliases b. Errors wrap ErrBadMessage and name the offset.
func DecodeMessage(b []byte) (transport.Message, error) {
	var m transport.Message
	bad := func(off int, what string) (transport.Message, error) {
		return transport.Message{}, fmt.Errorf("%w: %s at offset %d", ErrBadMessage, what, off)
	}
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return bad(off, "bad tag")
		}
		p := off + n
		switch {
		case num == fieldKey && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b[p:])
			if n < 0 {
				return bad(p, "bad key")
			}
			m.Key, p = v, p+n
		case num == fieldPayload && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b[p:])
			if n < 0 {
				return bad(p, "bad payload")
			}
			m.Payload, p = v, p+n
		case num == fieldProps && typ == protowire.BytesType:
			e, n := protowire.ConsumeBytes(b[p:])
			if n < 0 {
				return bad(p, "bad property")
			}
			k, v, err := decodeProperty(e)
			if err != nil {
				return bad(p, err.Error())
			}
			if m.Properties == nil {
				m.Properties = make(map[string]string)
			}
			m.Properties[k] = v
			p += n
		case num == fieldEventTime && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b[p:])
			if n < 0 {
				return bad(p, "bad event time")
			}
			m.EventTime, p = time.Unix(0, int64(v)), p+n
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[p:])
			if n < 0 {
				return bad(p, fmt.Sprintf("bad field %d", num))
			}
			p += n
		}
		off = p
	}
	return m, nil
}

func decodeProperty(b []byte) (k, v string, err error) {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		off += n
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n = protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			off += n
			continue
		}
		s, n := protowire.ConsumeString(b[off:])
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		if num == 1 {
			k = s
		} else {
			v = s
		}
		off += n
	}
	return k, v, nil
}
