package command_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/examples/edge-gateway/command"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/wire"
)

func TestRoundTripAndKinds(t *testing.T) {
	req := command.Request{ID: "r-1", Token: "t", Who: "alice", Tag: "Kiln1.Zone1.Setpoint", Value: json.RawMessage("870")}
	m, err := command.RequestMessage(req)
	if err != nil {
		t.Fatal(err)
	}
	if command.Kind(m) != command.KindRequest {
		t.Fatalf("kind %v", command.Kind(m))
	}
	got, err := command.DecodeRequest(m)
	if err != nil || got.ID != "r-1" || string(got.Value) != "870" || got.Tag != req.Tag {
		t.Fatalf("DecodeRequest = %+v, %v", got, err)
	}
	if _, err := command.DecodeAudit(m); !errors.Is(err, command.ErrContentType) {
		t.Fatalf("DecodeAudit of a request: %v", err)
	}

	a := command.Audit{RequestID: "r-1", Gateway: "gw", Tenant: "acme", Time: time.Unix(1, 0).UTC(), Tag: req.Tag, Result: "ok", Code: "ok"}
	am, err := command.AuditMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	if command.Kind(am) != command.KindAudit || am.Properties[wire.PropTenant] != "acme" {
		t.Fatalf("audit message %+v", am)
	}
	back, err := command.DecodeAudit(am)
	if err != nil || back.RequestID != "r-1" || !back.Time.Equal(a.Time) {
		t.Fatalf("DecodeAudit = %+v, %v", back, err)
	}

	bm := wire.ToMessage(&wire.Batch{Source: "gw", Samples: []plc.Sample{{Tag: "a", Time: time.Now()}}}, nil)
	if command.Kind(bm) != command.KindBatch {
		t.Fatal("a batch is not KindBatch")
	}
	if command.Kind(transport.Message{}) != command.KindUnknown {
		t.Fatal("an empty message has a kind")
	}
	bad := am
	bad.Payload = []byte("{")
	if _, err := command.DecodeAudit(bad); err == nil {
		t.Fatal("truncated audit decoded")
	}
}

func ExampleRequestMessage() {
	m, _ := command.RequestMessage(command.Request{ID: "r-7", Token: "secret", Who: "ui", Tag: "Line1.Fan1.SpeedSetpoint", Value: json.RawMessage("1500")})
	fmt.Println(m.Properties["content-type"])
	fmt.Println(string(m.Payload))
	// Output:
	// application/x-kiln-write-request+json; v=1
	// {"id":"r-7","token":"secret","who":"ui","tag":"Line1.Fan1.SpeedSetpoint","value":1500}
}
