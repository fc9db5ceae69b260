package modbus

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
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

	mu         sync.Mutex // guards cur
	cur        link
	first      chan struct{} // closed when the first attempt has ended
	firstOnce  sync.Once
	reconnects atomic.Uint64
}

// stableSession is how long a session must last for the reconnect
// backoff to start afresh after it ends.
const stableSession = 30 * time.Second

// run keeps the link up until ctx ends. Failed attempts are retried
// with backoff; a session lost within stableSession of its start is also
// followed by a backoff delay, the attempt count growing on, so that a
// device that drops connections right after accepting them is not
// redialled in a tight loop.
func (c *connector) run(ctx context.Context) {
	attempt, connected := 0, false
	next := func() time.Duration {
		d := backoff.Delay(c.reconnect, attempt, rand.Float64())
		attempt++
		return d
	}
	for {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		l, err := c.dial(actx)
		cancel()
		if err == nil {
			c.set(l)
		}
		c.firstOnce.Do(func() { close(c.first) })
		if ctx.Err() != nil {
			c.set(nil)
			if l != nil {
				_ = l.close()
			}
			return
		}
		var delay time.Duration
		if err != nil {
			delay = next()
			c.log.Warn("modbus connect failed", zap.Error(err), zap.Duration("retry_in", delay))
		} else {
			if connected {
				c.reconnects.Add(1)
			}
			connected = true
			began := c.clk.Now()
			c.log.Info("modbus connected")
			select {
			case <-ctx.Done():
			case <-l.lost():
			}
			c.set(nil)
			_ = l.close()
			if ctx.Err() != nil {
				return
			}
			lasted := c.clk.Now().Sub(began)
			if lasted >= stableSession {
				attempt = 0
				c.log.Info("modbus connection lost, reconnecting")
				continue
			}
			delay = next()
			c.log.Warn("modbus session ended soon after it began", zap.Duration("lasted", lasted), zap.Duration("retry_in", delay))
		}
		if backoff.Sleep(ctx, c.clk, delay) != nil {
			return
		}
	}
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
