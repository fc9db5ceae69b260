package reconnect

import (
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
)

// Option sets a code-only setting of New.
type Option func(*Loop)

// WithClock sets the clock that times the delays and the sessions
// (default: the system clock).
func WithClock(c clock.Clock) Option { return func(l *Loop) { l.clk = clock.Or(c) } }

// WithLogger logs failed attempts and short sessions through log at warn
// level, each message begun with prefix ("s7 " logs "s7 connect failed",
// with the keys error and retry_in; "s7 session ended soon after it
// began", with lasted and retry_in). Default: no logs.
func WithLogger(log *zap.Logger, prefix string) Option {
	return func(l *Loop) {
		if log != nil {
			l.log, l.prefix = log, prefix
		}
	}
}

// WithEvents calls h with every Event, in order, on Serve's goroutine
// before the loop goes on, so h must not block; a driver passes it on to
// its own users and tests watch the session through it instead of its
// logs.
func WithEvents(h func(Event)) Option { return func(l *Loop) { l.hook = h } }
