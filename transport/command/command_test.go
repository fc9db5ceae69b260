package command_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kiln-iot/kiln/ha"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/wire"
)

// The records of the version 1 test vectors.
var (
	vectorRequest = command.Request{ID: "r-1", Token: "secret", Who: "alice", Tag: "Kiln1.Zone1.Setpoint", Value: json.RawMessage("870")}
	vectorAudit   = command.Audit{RequestID: "r-1", Gateway: "gw-1", Tenant: "acme", Who: "alice", Channel: "command",
		Time: time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC), Tag: "Kiln1.Zone1.Setpoint", Requested: "870",
		Old: json.RawMessage("850"), New: json.RawMessage("870"), ReadBack: json.RawMessage("870"), Result: "ok", Code: command.CodeOK}
)

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// TestVectorsV1 pins the version 1 encodings byte for byte, both ways:
// what the encoders write, and what the decoders read from it.
func TestVectorsV1(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		sent := time.Unix(1772600767, 0)
		m, err := command.RequestMessage(vectorRequest, sent)
		if err != nil {
			t.Fatal(err)
		}
		want := readVector(t, "request-v1.json")
		if !bytes.Equal(m.Payload, want) {
			t.Fatalf("payload\n%s\nwant\n%s", m.Payload, want)
		}
		if m.Properties[wire.PropContentType] != "application/x-kiln-write-request+json; v=1" || m.Key != vectorRequest.Tag || !m.EventTime.Equal(sent) {
			t.Fatalf("message %+v", m)
		}
		got, err := command.DecodeRequest(transport.Message{Payload: want, Properties: m.Properties})
		if err != nil || !reflect.DeepEqual(got, vectorRequest) {
			t.Fatalf("DecodeRequest = %+v, %v", got, err)
		}
	})
	t.Run("audit", func(t *testing.T) {
		m, err := command.AuditMessage(vectorAudit)
		if err != nil {
			t.Fatal(err)
		}
		want := readVector(t, "audit-v1.json")
		if !bytes.Equal(m.Payload, want) {
			t.Fatalf("payload\n%s\nwant\n%s", m.Payload, want)
		}
		if m.Properties[wire.PropContentType] != "application/x-kiln-write-audit+json; v=1" || m.Properties[wire.PropTenant] != "acme" ||
			m.Key != "gw-1" || !m.EventTime.Equal(vectorAudit.Time) {
			t.Fatalf("message %+v", m)
		}
		got, err := command.DecodeAudit(transport.Message{Payload: want, Properties: m.Properties})
		if err != nil || !reflect.DeepEqual(got, vectorAudit) {
			t.Fatalf("DecodeAudit = %+v, %v", got, err)
		}
	})
}

func TestKindByContentType(t *testing.T) {
	msg := func(ct string) transport.Message {
		return transport.Message{Properties: map[string]string{wire.PropContentType: ct}}
	}
	tests := []struct {
		ct   string
		want command.MessageKind
	}{
		{command.RequestContentType, command.KindRequest},
		{command.AuditContentType, command.KindAudit},
		{wire.ContentType, command.KindBatch},
		{"Application/X-Kiln-Write-Audit+JSON;v=1", command.KindAudit},
		{"application/x-kiln-write-audit+json; v=2", command.KindUnknown},
		{"application/x-kiln-write-audit+json", command.KindUnknown},
		{"application/json", command.KindUnknown},
		{"", command.KindUnknown},
	}
	for _, tt := range tests {
		if got := command.Kind(msg(tt.ct)); got != tt.want {
			t.Errorf("Kind(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
	bm := wire.ToMessage(&wire.Batch{Source: "gw", Samples: []plc.Sample{{Tag: "a", Time: time.Unix(1, 0)}}}, nil)
	if command.Kind(bm) != command.KindBatch {
		t.Fatal("a wire batch is not KindBatch")
	}
	if _, err := command.DecodeAudit(msg(command.RequestContentType)); !errors.Is(err, command.ErrContentType) {
		t.Fatalf("DecodeAudit of a request: %v", err)
	}
	if _, err := command.DecodeRequest(msg(command.AuditContentType)); !errors.Is(err, command.ErrContentType) {
		t.Fatalf("DecodeRequest of an audit: %v", err)
	}
}

// TestDecodeRefusesMalformed names the problem and its offset for each
// payload that is not one complete record.
func TestDecodeRefusesMalformed(t *testing.T) {
	req := map[string]string{wire.PropContentType: command.RequestContentType}
	tests := []struct {
		name, payload, reason string
		offset                int64
	}{
		{"empty", ``, "not a JSON object", 0},
		{"array", ` [1]`, "not a JSON object", 1},
		{"truncated", `{"id":"r-1","tag":"a","value":`, "truncated", 30},
		{"syntax", `{"id":"r-1",,}`, "invalid character ',' looking for beginning of object key string", 13},
		{"wrong type", `{"id":7,"tag":"a","value":1}`, `"id": want a JSON string, not number`, 7},
		{"trailing data", `{"id":"r-1","tag":"a","value":105} {"id":"r-2","tag":"a","value":5000}`, "data after the JSON object", 36},
		{"no id", `{"tag":"a","value":1}`, `"id" is missing`, -1},
		{"no tag", `{"id":"r-1","value":1}`, `"tag" is missing`, -1},
		{"no value", `{"id":"r-1","tag":"a"}`, `"value" is missing`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := command.DecodeRequest(transport.Message{Payload: []byte(tt.payload), Properties: req})
			var de *command.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, command.ErrMalformed) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if de.Reason != tt.reason || de.Offset != tt.offset || de.What != "request" {
				t.Fatalf("DecodeError %+v, want reason %q at %d", de, tt.reason, tt.offset)
			}
		})
	}
	aud := map[string]string{wire.PropContentType: command.AuditContentType}
	_, err := command.DecodeAudit(transport.Message{Payload: []byte(`{"gateway":"gw","tenant":"acme","tag":"a","code":"ok"}`), Properties: aud})
	var de *command.DecodeError
	if !errors.As(err, &de) || de.Reason != `"time" is missing` {
		t.Fatalf("audit without a time: %v", err)
	}
	if _, err := command.DecodeAudit(transport.Message{Payload: []byte(`{"gateway":"gw","tenant":"acme","time":"yesterday","tag":"a","code":"ok"}`), Properties: aud}); !errors.Is(err, command.ErrMalformed) {
		t.Fatalf("audit with a bad time: %v", err)
	}
}

func TestEncodeRefusesIncompleteRecords(t *testing.T) {
	if _, err := command.RequestMessage(command.Request{ID: "r-1", Tag: "a"}, time.Unix(1, 0)); !errors.Is(err, command.ErrInvalid) {
		t.Fatalf("request without a value: %v", err)
	}
	if _, err := command.RequestMessage(command.Request{ID: "r-1", Tag: "a", Value: json.RawMessage("{")}, time.Unix(1, 0)); !errors.Is(err, command.ErrInvalid) {
		t.Fatalf("request with a broken value: %v", err)
	}
	if _, err := command.AuditMessage(command.Audit{Gateway: "gw", Tenant: "acme", Tag: "a", Code: "ok"}); !errors.Is(err, command.ErrInvalid) {
		t.Fatalf("audit without a time: %v", err)
	}
}

// FuzzDecodeRequest feeds arbitrary payloads to DecodeRequest: it never
// panics, and what it accepts encodes and decodes to the same request.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(readVector(&testing.T{}, "request-v1.json"))
	f.Add([]byte(`{"id":"r","tag":"t","value":true} x`))
	f.Add([]byte(`{"id":"r","tag":"t","value":"\u00e9"}`))
	props := map[string]string{wire.PropContentType: command.RequestContentType}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := command.DecodeRequest(transport.Message{Payload: payload, Properties: props})
		if err != nil {
			if !errors.Is(err, command.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		m, err := command.RequestMessage(r, time.Unix(1, 0))
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", r, err)
		}
		back, err := command.DecodeRequest(m)
		if err != nil || back.ID != r.ID || back.Tag != r.Tag || back.Who != r.Who || back.Token != r.Token {
			t.Fatalf("round trip of %+v: %+v, %v", r, back, err)
		}
	})
}

// FuzzDecodeAudit is FuzzDecodeRequest for audit records.
func FuzzDecodeAudit(f *testing.F) {
	f.Add(readVector(&testing.T{}, "audit-v1.json"))
	f.Add([]byte(`{"gateway":"g","tenant":"t","time":"2026-01-01T00:00:00Z","tag":"a","code":"x"}`))
	props := map[string]string{wire.PropContentType: command.AuditContentType}
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := command.DecodeAudit(transport.Message{Payload: payload, Properties: props})
		if err != nil {
			if !errors.Is(err, command.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		m, err := command.AuditMessage(a)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", a, err)
		}
		back, err := command.DecodeAudit(m)
		if err != nil || back.Gateway != a.Gateway || back.Code != a.Code || !back.Time.Equal(a.Time) {
			t.Fatalf("round trip of %+v: %+v, %v", a, back, err)
		}
	})
}

func TestCodeOf(t *testing.T) {
	lim := 100.0
	tests := []struct {
		err  error
		want string
	}{
		{nil, command.CodeOK},
		{fmt.Errorf("gateway: %w", command.ErrUnauthorized), command.CodeUnauthorized},
		{command.ErrExpired, command.CodeExpired},
		{fmt.Errorf("%w: disk full", command.ErrAuditUnavailable), command.CodeAuditUnavailable},
		{fmt.Errorf("writing Kiln1.Zone1.Setpoint: %w", ha.ErrFenced), command.CodeFenced},
		{fmt.Errorf("%w %q", plc.ErrUnknownTag, "x"), command.CodeUnknownTag},
		{plc.ErrReadOnly, command.CodeReadOnly},
		{&plc.ConversionError{Value: plc.BoolValue(true), To: plc.TypeReal, Reason: "a boolean for a REAL"}, command.CodeBadValue},
		{json.Unmarshal([]byte("{"), new(any)), command.CodeBadValue},
		{&plc.LimitError{Tag: "x", Value: 200, Max: &lim}, command.CodeOutOfLimits},
		{plc.ErrVerifyMismatch, command.CodeVerifyFailed},
		{errors.New("s7: connection reset"), command.CodeDeviceError},
	}
	for _, tt := range tests {
		if got := command.CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
