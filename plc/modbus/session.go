package modbus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/reconnect"
)

// connector keeps one link to a device up. Its run method is the
// session loop: connect, wait for the link's loss, reconnect with
// backoff.
type connector struct {
	dial      func(ctx context.Context) (link, error)
	reconnect backoff.Config
	timeout   time.Duration // of each attempt
	clk       clock.Clock
	log       *zap.Logger
	events    func(reconnect.Event) // nil for none

	mu         sync.Mutex // guards cur
	cur        link
	first      chan struct{} // closed when the first attempt has ended
	firstOnce  sync.Once
	reconnects atomic.Uint64
}

// errLinkLost is the cause of a session whose link failed.
var errLinkLost = errors.New("modbus: connection lost")

// run keeps the link up until ctx ends, on kiln's one session loop
// (package reconnect): failed attempts are retried with backoff, and a
// session lost soon after it began is followed by a backoff delay too,
// the attempt count growing on, so that a device that drops connections
// right after accepting them is not redialled in a tight loop.
func (c *connector) run(ctx context.Context) {
	defer c.firstOnce.Do(func() { close(c.first) })
	connected := false
	loop, err := reconnect.New(reconnect.Config{Retry: c.reconnect}, func(dctx context.Context) (reconnect.Hold, error) {
		actx, cancel := context.WithTimeout(dctx, c.timeout)
		l, err := c.dial(actx)
		cancel()
		if err == nil {
			c.set(l)
		}
		c.firstOnce.Do(func() { close(c.first) })
		if err != nil {
			return nil, err
		}
		if connected {
			c.reconnects.Add(1)
		}
		connected = true
		c.log.Info("modbus connected")
		return func(hctx context.Context) error {
			defer func() {
				c.set(nil)
				_ = l.close()
			}()
			select {
			case <-hctx.Done():
				return nil
			case <-l.lost():
				return errLinkLost
			}
		}, nil
	}, reconnect.WithClock(c.clk), reconnect.WithLogger(c.log, "modbus "), reconnect.WithEvents(c.events))
	if err != nil { // Config.Validate refuses such a retry setting first
		c.log.Error("modbus: no session loop", zap.Error(err))
		return
	}
	_ = loop.Serve(ctx)
}

func (c *connector) set(l link) {
	c.mu.Lock()
	c.cur = l
	c.mu.Unlock()
}

// link returns the live link, waiting (within ctx) for the first
// connection attempt; nil when there is none.
func (c *connector) link(ctx context.Context) (link, error) {
	select {
	case <-c.first:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur, nil
}

// sharedConn is a connector that drivers of one serial line or RTU
// gateway share, so their requests are serialized on it.
type sharedConn struct {
	c      *connector
	refs   int
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*sharedConn{}
)

// acquire returns the connector of key, starting it with mk when no
// driver holds it, and the function that lets it go.
func acquire(key string, mk func() *connector) (*connector, func()) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s := shared[key]
	if s == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s = &sharedConn{c: mk(), cancel: cancel, done: make(chan struct{})}
		shared[key] = s
		go func() {
			defer close(s.done)
			s.c.run(ctx)
		}()
	}
	s.refs++
	var once sync.Once
	return s.c, func() {
		once.Do(func() {
			sharedMu.Lock()
			s.refs--
			last := s.refs == 0
			if last {
				delete(shared, key)
			}
			sharedMu.Unlock()
			if last {
				s.cancel()
				<-s.done
			}
		})
	}
}
