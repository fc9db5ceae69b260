// Package command is the versioned wire contract of a gateway's write
// channel: the write requests a cloud service or an operator console
// sends to a gateway over its command topic, and the audit records the
// gateway makes of every write (from the command topic or its own HTTP
// API), which are also the answers to those requests.
//
// Both travel as one JSON object in a transport.Message whose
// "content-type" property names the kind and the version (Version, "v=1"):
// RequestContentType and AuditContentType. Within a version fields may be
// added and decoders ignore fields they do not know; anything an older
// decoder would misread takes a new version. The files under
// testdata/vectors are the byte-exact encodings of version 1 that the
// tests pin.
//
// Where the answers go: a gateway spools each audit record and forwards
// it to its audit topic (by default "audit" in the namespace of its data
// topic), never to the data topic, which carries only sample batches
// (wire's content type), so an ingestor of the data topic sees batches
// only. A requester subscribes to the audit topic and matches
// Audit.RequestID to its Request.ID. A gateway without a broker (the
// embedded transport) appends them to its local audit log instead.
//
//	msg, err := command.RequestMessage(command.Request{ID: "r-1", Token: tok, Tag: "Kiln1.Zone1.Setpoint", Value: json.RawMessage("870")}, time.Now())
//	// publish msg on the gateway's command topic; later, on its audit topic:
//	if command.Kind(m) == command.KindAudit {
//		rec, err := command.DecodeAudit(m) // rec.RequestID == "r-1", rec.Code == command.CodeOK
//	}
//
// CodeOf classifies a write's outcome (plc.Writer's errors and this
// package's refusals, ErrUnauthorized, ErrExpired, ErrAuditUnavailable)
// as the Code of its audit record, for every service that writes.
//
// Decoders never panic: a payload that is not one JSON object with the
// required fields is a *DecodeError (matching ErrMalformed) naming the
// byte offset where known.
package command
