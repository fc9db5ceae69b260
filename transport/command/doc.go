// Package command is the edge gateway's write channel on the wire: the
// write requests a cloud service or an operator UI sends to a gateway over
// the command topic, and the audit records the gateway sends back through
// its spool, which are also the answers to those requests.
//
// Both travel as JSON in a transport.Message whose "content-type" property
// names the kind and version:
//
//	msg, err := command.RequestMessage(command.Request{ID: "r-1", Token: tok, Tag: "Kiln1.Zone1.Setpoint", Value: json.RawMessage("870")})
//	// publish msg on the gateway's command topic; later, on its data topic:
//	switch command.Kind(m) {
//	case command.KindAudit:
//		rec, err := command.DecodeAudit(m) // rec.RequestID == "r-1", rec.Result == "ok"
//	}
//
// Sample batches share the data topic; their content type is wire's.
package command
