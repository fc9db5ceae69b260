package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/wire"
)

// Content types of the messages of this package.
const (
	RequestContentType = "application/x-kiln-write-request+json; v=1"
	AuditContentType   = "application/x-kiln-write-audit+json; v=1"
)

// MessageKind says what a message on a gateway's topics holds.
type MessageKind int

// The kinds of message.
const (
	KindUnknown MessageKind = iota
	KindBatch               // a wire.Batch of samples
	KindRequest             // a Request
	KindAudit               // an Audit
)

// ErrContentType is returned when a message is not of the kind asked for.
var ErrContentType = errors.New("command: wrong content type")

// Kind returns the kind of a message by its content type.
func Kind(m transport.Message) MessageKind {
	switch m.Properties[wire.PropContentType] {
	case wire.ContentType:
		return KindBatch
	case RequestContentType:
		return KindRequest
	case AuditContentType:
		return KindAudit
	}
	return KindUnknown
}

// Request asks a gateway to write one tag.
type Request struct {
	// ID identifies the request; its audit record carries it back.
	ID string `json:"id"`
	// Token is the tenant's gateway token.
	Token string `json:"token"`
	// Who names the user or service asking, for the audit.
	Who string `json:"who"`
	// Tag is the tag's name.
	Tag string `json:"tag"`
	// Value is the value in engineering units as one JSON value
	// (870, true, "BRICK-RED-07").
	Value json.RawMessage `json:"value"`
}

// Audit is the record of one write request, made whether it succeeded or
// not; for a request from the command topic it is also the answer.
type Audit struct {
	// RequestID is the request's ID (empty for HTTP requests without one).
	RequestID string    `json:"request_id,omitempty"`
	Gateway   string    `json:"gateway"`
	Tenant    string    `json:"tenant"`
	Who       string    `json:"who"`
	Channel   string    `json:"channel"` // "http" or "command"
	Time      time.Time `json:"time"`
	Tag       string    `json:"tag"`
	Requested string    `json:"requested"`
	// Old, New and ReadBack are engineering values (null when unknown).
	Old      json.RawMessage `json:"old,omitempty"`
	New      json.RawMessage `json:"new,omitempty"`
	ReadBack json.RawMessage `json:"read_back,omitempty"`
	// Result is "ok" or the error's text; Code classifies refusals:
	// "ok", "unauthorized", "expired", "unknown_tag", "read_only",
	// "bad_value", "out_of_limits", "verify_failed", "device_error",
	// "audit_unavailable" (refused before the device while the gateway
	// cannot store audit records).
	Result string `json:"result"`
	Code   string `json:"code"`
}

// RequestMessage encodes a request for the command topic.
func RequestMessage(r Request) (transport.Message, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return transport.Message{}, fmt.Errorf("command: encode request: %w", err)
	}
	return transport.Message{Key: r.Tag, Payload: b, Properties: map[string]string{wire.PropContentType: RequestContentType}, EventTime: time.Now()}, nil
}

// DecodeRequest decodes a request message.
func DecodeRequest(m transport.Message) (Request, error) {
	var r Request
	if Kind(m) != KindRequest {
		return r, fmt.Errorf("%w: %q", ErrContentType, m.Properties[wire.PropContentType])
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return r, fmt.Errorf("command: decode request: %w", err)
	}
	return r, nil
}

// AuditMessage encodes an audit record for the data topic.
func AuditMessage(a Audit) (transport.Message, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return transport.Message{}, fmt.Errorf("command: encode audit: %w", err)
	}
	return transport.Message{Key: a.Gateway, Payload: b, EventTime: a.Time,
		Properties: map[string]string{wire.PropContentType: AuditContentType, wire.PropTenant: a.Tenant}}, nil
}

// DecodeAudit decodes an audit message.
func DecodeAudit(m transport.Message) (Audit, error) {
	var a Audit
	if Kind(m) != KindAudit {
		return a, fmt.Errorf("%w: %q", ErrContentType, m.Properties[wire.PropContentType])
	}
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		return a, fmt.Errorf("command: decode audit: %w", err)
	}
	return a, nil
}
