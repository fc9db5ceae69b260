package route_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/route"
	"github.com/kiln-iot/kiln/transport/spool"
)

// spoolPublisher is a real publisher (into a spool) that refuses when
// told to, as a broker whose link is down does.
type spoolPublisher struct {
	*spool.Publisher
	sp     *spool.Spool
	refuse error
}

func (p *spoolPublisher) Publish(ctx context.Context, msgs []transport.Message, done func(int, error)) error {
	if p.refuse != nil {
		return p.refuse
	}
	return p.Publisher.Publish(ctx, msgs, done)
}

func newSpoolPublisher(t *testing.T) *spoolPublisher {
	t.Helper()
	sp, err := spool.Open(spool.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return &spoolPublisher{Publisher: spool.NewPublisher(sp), sp: sp}
}

func isBatch(m transport.Message) bool { return m.Properties["kind"] == "batch" }

func msgs(kinds ...string) []transport.Message {
	out := make([]transport.Message, len(kinds))
	for i, k := range kinds {
		out[i] = transport.Message{Key: fmt.Sprint(i), Payload: []byte(k), Properties: map[string]string{"kind": k}, EventTime: time.Unix(int64(i), 0)}
	}
	return out
}

// results publishes and waits for every done call, by index.
func results(t *testing.T, p *route.Publisher, ms []transport.Message) (map[int]error, error) {
	t.Helper()
	var mu sync.Mutex
	got := map[int]error{}
	all := make(chan struct{})
	err := p.Publish(context.Background(), ms, func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[i]; dup {
			t.Errorf("done called twice for %d", i)
		}
		got[i] = err
		if len(got) == len(ms) {
			close(all)
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("done called for %d of %d messages", len(got), len(ms))
	}
	return got, nil
}

func TestRoutesByMatchKeepingIndexes(t *testing.T) {
	batches, audits := newSpoolPublisher(t), newSpoolPublisher(t)
	p := route.New(audits, route.Route{Match: isBatch, To: batches})
	got, err := results(t, p, msgs("batch", "audit", "batch", "audit"))
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range got {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if b, a := batches.sp.Stats().Records, audits.sp.Stats().Records; b != 2 || a != 2 {
		t.Fatalf("%d batches, %d audits; want 2 and 2", b, a)
	}
}

func TestRefusedPart(t *testing.T) {
	down := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	t.Run("first part refused: the error, no done", func(t *testing.T) {
		batches, audits := newSpoolPublisher(t), newSpoolPublisher(t)
		batches.refuse = down
		p := route.New(audits, route.Route{Match: isBatch, To: batches})
		if _, err := results(t, p, msgs("batch", "audit")); !errors.Is(err, down) {
			t.Fatalf("Publish = %v, want the refusal", err)
		}
		if audits.sp.Stats().Records != 0 {
			t.Fatal("the audit part was published after the batches were refused")
		}
	})
	t.Run("later part refused: done reports it", func(t *testing.T) {
		batches, audits := newSpoolPublisher(t), newSpoolPublisher(t)
		audits.refuse = down
		p := route.New(audits, route.Route{Match: isBatch, To: batches})
		got, err := results(t, p, msgs("audit", "batch", "audit"))
		if err != nil {
			t.Fatal(err)
		}
		if got[1] != nil || !errors.Is(got[0], down) || !errors.Is(got[2], down) {
			t.Fatalf("results %v", got)
		}
	})
}
