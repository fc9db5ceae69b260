package gateway

import (
	"context"
	"errors"

	"github.com/kiln-iot/kiln/examples/edge-gateway/command"
	"github.com/kiln-iot/kiln/transport"
)

// router is the forwarder's Publisher with Pulsar: sample batches go to
// the data topic, audit records (and anything else) to the audit topic, so
// an ingestor of the data topic sees only batches. It keeps the
// transport.Publisher contract: done is called once per message, by its
// index in the caller's slice.
type router struct {
	batches, audits transport.Publisher
}

func (r *router) Publish(ctx context.Context, msgs []transport.Message, done func(i int, err error)) error {
	var bIdx, aIdx []int
	var bMsgs, aMsgs []transport.Message
	for i, m := range msgs {
		if command.Kind(m) == command.KindBatch {
			bIdx, bMsgs = append(bIdx, i), append(bMsgs, m)
		} else {
			aIdx, aMsgs = append(aIdx, i), append(aMsgs, m)
		}
	}
	// The audit part goes second: if it is refused after the batches were
	// accepted, those are failed too, so that no message is left without
	// its done call and the forwarder retries them all in order.
	if len(bMsgs) > 0 {
		if err := r.batches.Publish(ctx, bMsgs, func(i int, err error) { done(bIdx[i], err) }); err != nil {
			return err
		}
	}
	if len(aMsgs) > 0 {
		if err := r.audits.Publish(ctx, aMsgs, func(i int, err error) { done(aIdx[i], err) }); err != nil {
			if len(bMsgs) == 0 {
				return err
			}
			for _, i := range aIdx {
				done(i, err)
			}
		}
	}
	return nil
}

func (r *router) Close() error {
	return errors.Join(r.batches.Close(), r.audits.Close())
}
