package supervise

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	// EventStarted: a child's Serve was called for the first time.
	EventStarted EventKind = iota + 1
	// EventRestarted: a child's fresh instance was started again; Restarts
	// counts its restarts so far.
	EventRestarted
	// EventExited: a child returned (Err is nil for a clean exit) or could
	// not be made by its factory.
	EventExited
	// EventPanicked: a child panicked; Err is a *PanicError with the stack.
	EventPanicked
	// EventHung: a child missed its watchdog deadline and is being
	// cancelled; Err is ErrHung.
	EventHung
	// EventBackoff: a child's restart waits Delay.
	EventBackoff
	// EventFailed: a child exited abnormally and its restart type says it
	// stays down (transient or temporary): it is in state Failed until
	// Restart. When the child is a supervisor that escalated,
	// errors.Is(Err, ErrEscalated) holds: the subtree is declared failed.
	EventFailed
	// EventEscalated: this supervisor exceeded its restart intensity,
	// stopped its children and is returning Err (an *EscalationError).
	EventEscalated
	// EventHealthChanged: a probe of a child changed its verdict: Probe
	// says which, Healthy the new verdict, Err the last check's error.
	EventHealthChanged
	// EventStopTimeout: a child did not return within its Shutdown
	// timeout (Delay) and was left behind.
	EventStopTimeout
)

var eventNames = map[EventKind]string{
	EventStarted: "started", EventRestarted: "restarted", EventExited: "exited",
	EventPanicked: "panicked", EventHung: "hung", EventBackoff: "backoff",
	EventFailed: "failed", EventEscalated: "escalated",
	EventHealthChanged: "health_changed", EventStopTimeout: "stop_timeout",
}

// String returns the kind's snake_case name.
func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// MarshalText encodes k by name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one thing that happened in a supervisor.
type Event struct {
	Kind EventKind
	// Time is the supervisor clock's time of the event.
	Time time.Time
	// Supervisor is the path of the supervisor ("root/ai/vision").
	Supervisor string
	// Child is the child's name; empty for EventEscalated.
	Child string
	// Err is the failure, when there is one.
	Err error
	// Restarts is the child's restart count.
	Restarts int
	// Delay is the backoff (EventBackoff) or the shutdown timeout that
	// expired (EventStopTimeout).
	Delay time.Duration
	// Probe and Healthy describe an EventHealthChanged.
	Probe   ProbeKind
	Healthy bool
}

// String formats e for humans.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Supervisor, e.Kind)
	if e.Child != "" {
		s = fmt.Sprintf("%s/%s %s", e.Supervisor, e.Child, e.Kind)
	}
	switch e.Kind {
	case EventBackoff, EventStopTimeout:
		s += " " + e.Delay.String()
	case EventHealthChanged:
		s += fmt.Sprintf(" %s healthy=%t", e.Probe, e.Healthy)
	case EventRestarted:
		s += fmt.Sprintf(" restarts=%d", e.Restarts)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

const eventQueueLen = 1024

// dispatcher hands events to the hook on its own goroutine.
type dispatcher struct {
	hook    func(Event)
	log     *zap.Logger
	dropped func()

	mu     sync.Mutex
	queue  []Event
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newDispatcher(hook func(Event), log *zap.Logger, dropped func()) *dispatcher {
	d := &dispatcher{hook: hook, log: log, dropped: dropped, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) emit(e Event) {
	d.mu.Lock()
	if len(d.queue) >= eventQueueLen {
		d.mu.Unlock()
		d.dropped()
		return
	}
	d.queue = append(d.queue, e)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close delivers what is queued and waits for the goroutine to end.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
}

func (d *dispatcher) run() {
	defer close(d.done)
	for range d.wake {
		for {
			d.mu.Lock()
			q := d.queue
			d.queue = nil
			closed := d.closed
			d.mu.Unlock()
			if len(q) == 0 {
				if closed {
					return
				}
				break
			}
			for _, e := range q {
				d.deliver(e)
			}
		}
	}
}

func (d *dispatcher) deliver(e Event) {
	defer func() {
		if v := recover(); v != nil {
			d.log.Error("event hook panicked", zap.Any("panic", v), zap.Stringer("event", e))
		}
	}()
	d.hook(e)
}
