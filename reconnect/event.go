package reconnect

import (
	"fmt"
	"time"
)

// EventKind says what happened to the session.
type EventKind int

// Event kinds.
const (
	// Connected: a Dial succeeded; the session is up.
	Connected EventKind = iota + 1
	// Lost: a session ended (not by the end of Serve's ctx); Err is what
	// its Hold returned, Lasted how long it was up.
	Lost
	// Retrying: the next attempt waits In. Err is the failed attempt's
	// error, nil when a short session (the Lost before) is the reason.
	// Attempt counts the delays since the last stable session: 1, 2, ...
	Retrying
)

// String returns the kind in words.
func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Lost:
		return "lost"
	case Retrying:
		return "retrying"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened to the loop's session.
type Event struct {
	Kind EventKind
	// Time is the loop clock's time of the event.
	Time time.Time
	// Err is why a session was lost or an attempt is retried, when known.
	Err error
	// Lasted is how long a Lost session was up.
	Lasted time.Duration
	// In is the delay before the next attempt of a Retrying.
	In time.Duration
	// Attempt is the number of a Retrying delay since the last stable
	// session (1 for the first).
	Attempt int
}

// String formats e for humans: "lost after 2s: EOF", "retrying in 4s
// (attempt 3): dial tcp: connection refused".
func (e Event) String() string {
	var s string
	switch e.Kind {
	case Lost:
		s = fmt.Sprintf("lost after %v", e.Lasted)
	case Retrying:
		s = fmt.Sprintf("retrying in %v (attempt %d)", e.In, e.Attempt)
	default:
		s = e.Kind.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
