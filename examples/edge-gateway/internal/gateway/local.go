package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/spool"
	"github.com/kiln-iot/kiln/transport/wire"
)

// runLocalStore is the embedded transport's consumer: it takes the
// spool's messages in order and stores sample batches in the embedded
// store and audit records in <data_dir>/audit.jsonl, acknowledging each
// only once it is stored.
func (g *Gateway) runLocalStore(ctx context.Context) error {
	sub, err := spool.NewSubscriber(g.sp)
	if err != nil {
		return err
	}
	defer sub.Close()
	auditPath := filepath.Join(g.cfg.DataDir, "audit.jsonl")
	f, err := os.OpenFile(auditPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	var b wire.Batch
	var cursorErr error // the last acknowledgement's, until one succeeds
	for {
		d, err := sub.Receive(ctx)
		if err != nil {
			return err
		}
		if err := g.storeLocal(ctx, d.Message(), &b, f); err != nil {
			g.log.Warn("embedded store: will retry", zap.Error(err))
			_ = d.Nack()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		err = d.Ack()
		var serr *spool.StorageError
		switch {
		case err == nil:
			if cursorErr != nil {
				g.log.Info("embedded store: spool cursor persisted again")
				cursorErr = nil
			}
		case errors.As(err, &serr):
			// The spool took the acknowledgement; only writing its
			// cursor file failed (disk full or read-only). The next
			// acknowledgement writes it again; until then a restart
			// delivers the stored messages again, which the store
			// ignores. Ending here would restart the consumer into the
			// same error until the tree gives up and the gateway exits.
			if cursorErr == nil {
				g.log.Warn("embedded store: spool cursor not persisted; it is written again with the next acknowledgement", zap.Error(err))
			}
			cursorErr = err
		default:
			return err
		}
	}
}

func (g *Gateway) storeLocal(ctx context.Context, m transport.Message, b *wire.Batch, audit *os.File) error {
	switch command.Kind(m) {
	case command.KindBatch:
		if err := wire.FromMessage(m, b); err != nil {
			g.log.Error("embedded store: undecodable batch dropped", zap.Error(err))
			return nil
		}
		_, err := g.store.WriteBatches(ctx, b.Tenant, []store.Batch{{Source: b.Source, Epoch: b.Epoch, Seq: b.Seq, Samples: b.Samples}})
		return err
	case command.KindAudit:
		a, err := command.DecodeAudit(m)
		if err != nil {
			g.log.Error("embedded store: undecodable audit record dropped", zap.Error(err))
			return nil
		}
		line, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := audit.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		return audit.Sync()
	}
	g.log.Warn("embedded store: message of unknown kind skipped", zap.String("content_type", m.Properties[wire.PropContentType]))
	return nil
}
