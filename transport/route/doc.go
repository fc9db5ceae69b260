// Package route is a transport.Publisher that splits one stream of
// messages over several publishers by a rule on each message, keeping
// the Publisher contract (done once per message, by its index) so that a
// forwarder draining one spool can feed several topics: an edge gateway
// sends sample batches to its data topic and audit records to its audit
// topic, so that an ingestor of the data topic sees batches only.
//
//	pub := route.New(auditTopic, route.Route{
//		Match: func(m transport.Message) bool { return command.Kind(m) == command.KindBatch },
//		To:    dataTopic,
//	})
//	fwd, err := forward.New(sp, pub, cfg)
package route
