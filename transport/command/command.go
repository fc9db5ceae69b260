package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"time"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/wire"
)

// Version is the version of the formats of this package, the "v"
// parameter of their content types. Fields may be added within a
// version (decoders ignore fields they do not know); a change that an
// older decoder would misread takes a new version.
const Version = "1"

// Content types of the messages of this package.
const (
	RequestContentType = "application/x-kiln-write-request+json; v=" + Version
	AuditContentType   = "application/x-kiln-write-audit+json; v=" + Version
)

// Result codes of an Audit: "ok", or why the write was refused or failed.
const (
	CodeOK           = "ok"
	CodeUnauthorized = "unauthorized"  // no valid token, or another tenant
	CodeExpired      = "expired"       // a command older than the gateway accepts
	CodeUnknownTag   = "unknown_tag"   // no such tag
	CodeReadOnly     = "read_only"     // the tag is not writable
	CodeBadValue     = "bad_value"     // the value is not of the tag's type
	CodeOutOfLimits  = "out_of_limits" // outside the tag's limits
	CodeVerifyFailed = "verify_failed" // written, but the read-back differs
	CodeDeviceError  = "device_error"  // the device refused or was unreachable
	// CodeAuditUnavailable: refused before the device while the gateway
	// cannot store audit records (its spool refuses appends).
	CodeAuditUnavailable = "audit_unavailable"
	// CodeFenced: refused before the device because the gateway does not
	// hold the HA lease (it is the standby of a pair, or cannot prove
	// right now that it is the active node; see package ha).
	CodeFenced = "fenced"
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

var (
	// ErrContentType is returned when a message is not of the kind asked
	// for, or of another version.
	ErrContentType = errors.New("command: wrong content type")
	// ErrMalformed is matched by every *DecodeError.
	ErrMalformed = errors.New("command: malformed message")
	// ErrInvalid is returned by RequestMessage and AuditMessage for a
	// record that lacks a required field.
	ErrInvalid = errors.New("command: invalid record")
)

// DecodeError is a payload that is not a valid request or audit record:
// Offset is the byte offset of the problem in the payload where known
// (-1 otherwise).
type DecodeError struct {
	What   string // "request" or "audit"
	Offset int64
	Reason string
}

// Error names what was decoded, where and why it failed.
func (e *DecodeError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("command: decode %s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("command: decode %s: at byte %d: %s", e.What, e.Offset, e.Reason)
}

// Is makes a *DecodeError match ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

var mediaTypes = map[string]MessageKind{
	mediaType(wire.ContentType):   KindBatch,
	mediaType(RequestContentType): KindRequest,
	mediaType(AuditContentType):   KindAudit,
}

func mediaType(ct string) string {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

// Kind returns the kind of a message by its content type ("content-type"
// property), compared as a media type: case and spacing do not matter, the
// version parameter does (another version is KindUnknown).
func Kind(m transport.Message) MessageKind {
	mt, params, err := mime.ParseMediaType(m.Properties[wire.PropContentType])
	if err != nil || params["v"] != Version {
		return KindUnknown
	}
	return mediaTypes[mt] // lower-cased by ParseMediaType
}

// Request asks a gateway to write one tag.
type Request struct {
	// ID identifies the request; its audit record carries it back.
	// Required.
	ID string `json:"id"`
	// Token is the tenant's gateway token.
	Token string `json:"token"`
	// Who names the user or service asking, for the audit.
	Who string `json:"who"`
	// Tag is the tag's name. Required.
	Tag string `json:"tag"`
	// Value is the value in engineering units as one JSON value of the
	// tag's type (870, true, "BRICK-RED-07"); see plc.ParseJSONValue.
	// Required.
	Value json.RawMessage `json:"value"`
}

func (r *Request) check() string {
	switch {
	case r.ID == "":
		return `"id" is missing`
	case r.Tag == "":
		return `"tag" is missing`
	case len(r.Value) == 0:
		return `"value" is missing`
	}
	return ""
}

// Audit is the record of one write request, made whether it succeeded or
// not; for a request from the command topic it is also the answer.
type Audit struct {
	// RequestID is the request's ID (empty for HTTP requests without one).
	RequestID string `json:"request_id,omitempty"`
	// Gateway and Tenant say who wrote. Required.
	Gateway string `json:"gateway"`
	Tenant  string `json:"tenant"`
	// Who asked, and on which channel: "http" or "command".
	Who     string `json:"who"`
	Channel string `json:"channel"`
	// Time is when the write was decided. Required.
	Time time.Time `json:"time"`
	// Tag is the tag's name. Required.
	Tag string `json:"tag"`
	// Requested is the value as it was asked for.
	Requested string `json:"requested"`
	// Old, New and ReadBack are engineering values (absent when unknown).
	Old      json.RawMessage `json:"old,omitempty"`
	New      json.RawMessage `json:"new,omitempty"`
	ReadBack json.RawMessage `json:"read_back,omitempty"`
	// Result is "ok" or the error's text; Code is one of the Code
	// constants (a decoder keeps codes it does not know). Code is required.
	Result string `json:"result"`
	Code   string `json:"code"`
}

func (a *Audit) check() string {
	switch {
	case a.Gateway == "":
		return `"gateway" is missing`
	case a.Tenant == "":
		return `"tenant" is missing`
	case a.Time.IsZero():
		return `"time" is missing`
	case a.Tag == "":
		return `"tag" is missing`
	case a.Code == "":
		return `"code" is missing`
	}
	return ""
}

// RequestMessage encodes a request for a gateway's command topic, sent
// at sent (its event time, by which the gateway refuses stale commands).
func RequestMessage(r Request, sent time.Time) (transport.Message, error) {
	if why := r.check(); why != "" {
		return transport.Message{}, fmt.Errorf("%w: request: %s", ErrInvalid, why)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return transport.Message{}, fmt.Errorf("%w: request: %w", ErrInvalid, err)
	}
	return transport.Message{Key: r.Tag, Payload: b, Properties: map[string]string{wire.PropContentType: RequestContentType}, EventTime: sent}, nil
}

// DecodeRequest decodes a request message: ErrContentType for another
// kind or version, a *DecodeError for a payload that is not one JSON
// object with id, tag and value.
func DecodeRequest(m transport.Message) (Request, error) {
	var r Request
	if Kind(m) != KindRequest {
		return Request{}, fmt.Errorf("%w: %q is not %q", ErrContentType, m.Properties[wire.PropContentType], RequestContentType)
	}
	if err := decode("request", m.Payload, &r); err != nil {
		return Request{}, err
	}
	if why := r.check(); why != "" {
		return Request{}, &DecodeError{What: "request", Offset: -1, Reason: why}
	}
	return r, nil
}

// AuditMessage encodes an audit record for a gateway's audit topic.
func AuditMessage(a Audit) (transport.Message, error) {
	if why := a.check(); why != "" {
		return transport.Message{}, fmt.Errorf("%w: audit: %s", ErrInvalid, why)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return transport.Message{}, fmt.Errorf("%w: audit: %w", ErrInvalid, err)
	}
	return transport.Message{Key: a.Gateway, Payload: b, EventTime: a.Time,
		Properties: map[string]string{wire.PropContentType: AuditContentType, wire.PropTenant: a.Tenant}}, nil
}

// DecodeAudit decodes an audit message: ErrContentType for another kind
// or version, a *DecodeError for a payload that is not one JSON object
// with gateway, tenant, time, tag and code.
func DecodeAudit(m transport.Message) (Audit, error) {
	var a Audit
	if Kind(m) != KindAudit {
		return Audit{}, fmt.Errorf("%w: %q is not %q", ErrContentType, m.Properties[wire.PropContentType], AuditContentType)
	}
	if err := decode("audit", m.Payload, &a); err != nil {
		return Audit{}, err
	}
	if why := a.check(); why != "" {
		return Audit{}, &DecodeError{What: "audit", Offset: -1, Reason: why}
	}
	return a, nil
}

// decode decodes exactly one JSON object into v.
func decode(what string, payload []byte, v any) error {
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return &DecodeError{What: what, Offset: int64(len(payload) - len(t)), Reason: "not a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(v); err != nil {
		return decodeError(what, int64(len(payload)), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &DecodeError{What: what, Offset: dec.InputOffset(), Reason: "data after the JSON object"}
	}
	return nil
}

func decodeError(what string, end int64, err error) *DecodeError {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return &DecodeError{What: what, Offset: se.Offset, Reason: se.Error()}
	case errors.As(err, &te):
		// Every field but the time (which reports its own errors) and the
		// values (any JSON) is a string.
		return &DecodeError{What: what, Offset: te.Offset, Reason: fmt.Sprintf("%q: want a JSON string, not %s", te.Field, te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &DecodeError{What: what, Offset: end, Reason: "truncated"}
	}
	return &DecodeError{What: what, Offset: -1, Reason: err.Error()}
}
