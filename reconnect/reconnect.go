package reconnect

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// DefaultStableAfter is how long a session must last, by default, for
// the backoff to start afresh once it ends.
const DefaultStableAfter = 30 * time.Second

// ErrByCaller is matched by the error a Hold returns when the program
// itself ended the session (a caller cancelled a request, leaving the
// connection out of step): that says nothing about the peer, so the loop
// redials at once, without a delay, and the attempt count stays as it
// was.
var ErrByCaller = errors.New("reconnect: session ended by a caller's request")

// Config shapes the loop. Its zero value takes the documented defaults.
type Config struct {
	// Retry shapes the delays between attempts (defaults of package
	// backoff: 100ms growing to 30s, with jitter).
	Retry backoff.Config `yaml:"retry"`
	// StableAfter is how long a session must last for the attempt count
	// to start afresh once it ends (default 30s). A shorter session is
	// followed by the next backoff delay, so that a peer that accepts
	// connections and drops them (a PLC out of connection resources, a
	// firewall that resets after the handshake) is not redialled in a
	// tight loop.
	StableAfter time.Duration `yaml:"stable_after"`
}

// Validate returns a *config.FieldError for every bad field, with its
// YAML path (retry.multiplier, stable_after).
func (c Config) Validate() error {
	var p config.Problems
	p.Nest("retry", c.Retry.Validate())
	if c.StableAfter < 0 {
		p.Add("stable_after", "%v is negative", c.StableAfter)
	}
	return p.Err()
}

// Dial makes one connection attempt within ctx. On success it returns the
// session's Hold; on failure the attempt's error, and the loop retries
// after a backoff delay.
type Dial func(ctx context.Context) (Hold, error)

// Hold blocks while the session lasts and returns why it ended (any
// error, or nil when there is nothing to say). It returns at once when
// ctx is done, and it owns the session: it closes the connection before
// it returns, or leaves that to the next Dial.
type Hold func(ctx context.Context) error

// Loop keeps one session up: dial, hold, and after a failure or a loss
// dial again, with backoff. Run it with Serve.
type Loop struct {
	cfg    Config
	dial   Dial
	clk    clock.Clock
	log    *zap.Logger
	prefix string
	hook   func(Event)
	rnd    func() float64
}

// New returns a loop that keeps dialling with dial. It refuses a Config
// that Validate refuses.
func New(cfg Config, dial Dial, opts ...Option) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dial == nil {
		return nil, errors.New("reconnect: New needs a Dial")
	}
	if cfg.StableAfter == 0 {
		cfg.StableAfter = DefaultStableAfter
	}
	l := &Loop{cfg: cfg, dial: dial, clk: clock.Real, log: zap.NewNop(), rnd: rand.Float64}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// Serve dials, holds each session until it ends and dials again, until
// ctx is done; then it returns nil (a Hold under way returns first).
//
// A failed attempt is retried after the next backoff delay. After a
// session that lasted StableAfter or longer the next attempt is made at
// once and the delays start afresh; after a shorter one it waits the
// next delay, the attempt count growing on; after one whose Hold returned
// an error matching ErrByCaller it redials at once and the count stays.
func (l *Loop) Serve(ctx context.Context) error {
	attempt := 0
	retry := func(err error) time.Duration {
		d := backoff.Delay(l.cfg.Retry, attempt, l.rnd())
		attempt++
		l.emit(Event{Kind: Retrying, Err: err, In: d, Attempt: attempt})
		return d
	}
	for {
		hold, err := l.dial(ctx)
		var delay time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			delay = retry(err)
			l.log.Warn(l.prefix+"connect failed", zap.Error(err), zap.Duration("retry_in", delay))
		} else {
			began := l.clk.Now()
			l.emit(Event{Kind: Connected})
			cause := hold(ctx)
			if ctx.Err() != nil {
				return nil
			}
			lasted := l.clk.Now().Sub(began)
			l.emit(Event{Kind: Lost, Err: cause, Lasted: lasted})
			switch {
			case lasted >= l.cfg.StableAfter:
				attempt = 0
				continue
			case errors.Is(cause, ErrByCaller):
				continue
			}
			delay = retry(nil)
			l.log.Warn(l.prefix+"session ended soon after it began", zap.Duration("lasted", lasted), zap.Duration("retry_in", delay))
		}
		if backoff.Sleep(ctx, l.clk, delay) != nil {
			return nil
		}
	}
}

func (l *Loop) emit(e Event) {
	if l.hook == nil {
		return
	}
	e.Time = l.clk.Now()
	l.hook(e)
}
