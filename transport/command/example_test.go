package command_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/transport/command"
)

func ExampleRequestMessage() {
	m, _ := command.RequestMessage(command.Request{ID: "r-7", Token: "secret", Who: "ui", Tag: "Line1.Fan1.SpeedSetpoint", Value: json.RawMessage("1500")}, time.Now())
	fmt.Println(m.Properties["content-type"])
	fmt.Println(string(m.Payload))
	// Output:
	// application/x-kiln-write-request+json; v=1
	// {"id":"r-7","token":"secret","who":"ui","tag":"Line1.Fan1.SpeedSetpoint","value":1500}
}

// A requester reading a gateway's audit topic matches answers to its
// requests by ID.
func ExampleDecodeAudit() {
	m, _ := command.AuditMessage(command.Audit{RequestID: "r-7", Gateway: "gw-1", Tenant: "acme", Channel: "command",
		Time: time.Unix(1772600767, 0), Tag: "Line1.Fan1.SpeedSetpoint", Requested: "1500", Result: "ok", Code: command.CodeOK})
	if command.Kind(m) == command.KindAudit {
		a, err := command.DecodeAudit(m)
		fmt.Println(a.RequestID, a.Code, err)
	}
	// Output:
	// r-7 ok <nil>
}
