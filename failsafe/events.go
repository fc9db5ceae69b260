package failsafe

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/transport"
)

// ContentType is the content type of status event messages.
const ContentType = "application/json; schema=kiln.ai-monitor.event; v=1"

// EventKind says what happened to a module.
type EventKind string

// Event kinds.
const (
	// EventUnhealthy: the module was declared unhealthy (exit, failed
	// liveness, missed heartbeat, output out of envelope); a fail-safe
	// handover starts.
	EventUnhealthy EventKind = "unhealthy"
	// EventHandover: the fail-safe plan is written and verified.
	EventHandover EventKind = "handover"
	// EventHandBack: control was handed back to the module.
	EventHandBack EventKind = "hand_back"
	// EventAlarm: a fail-safe or hand-back write failed; it is retried.
	EventAlarm EventKind = "alarm"
	// EventAlarmCleared: the write that raised the alarm succeeded.
	EventAlarmCleared EventKind = "alarm_cleared"
	// EventFailed: the module exceeded its restart intensity and stays
	// down until reset.
	EventFailed EventKind = "failed"
	// EventReset: an operator reset the module.
	EventReset EventKind = "reset"
)

// Event is a status event of a module, published as JSON (ContentType),
// keyed by the module's name, so the cloud sees module health.
type Event struct {
	Time   time.Time `json:"time"`
	Module string    `json:"module"`
	Kind   EventKind `json:"kind"`
	// State is the module's state after the event.
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// Handover is the handover the event is about, if any.
	Handover *Handover `json:"handover,omitempty"`
}

// Message encodes e as a transport message.
func (e Event) Message() transport.Message {
	b, _ := json.Marshal(e) // plain data: cannot fail
	return transport.Message{Key: e.Module, Payload: b, Properties: map[string]string{"content-type": ContentType}, EventTime: e.Time}
}

// DecodeEvent decodes a status event message.
func DecodeEvent(m transport.Message) (Event, error) {
	var e Event
	if err := json.Unmarshal(m.Payload, &e); err != nil {
		return Event{}, fmt.Errorf("monitor: status event (key %q): %w", m.Key, err)
	}
	return e, nil
}

const eventQueue = 1024

// publisher hands events to a transport.Publisher from a goroutine of its
// own, so that a slow or unreachable destination never holds up a
// handover; events beyond the queue are dropped and counted.
type publisher struct {
	p   transport.Publisher
	log *zap.Logger
	met *metrics
	q   chan Event
}

func newPublisher(p transport.Publisher, log *zap.Logger, met *metrics) *publisher {
	return &publisher{p: p, log: log, met: met, q: make(chan Event, eventQueue)}
}

func (p *publisher) publish(e Event) {
	if p.p == nil {
		return
	}
	select {
	case p.q <- e:
	default:
		p.met.eventsDropped.Inc()
	}
}

func (p *publisher) run(ctx context.Context) {
	if p.p == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-p.q:
			p.send(ctx, e)
		}
	}
}

// flush sends what is queued, at shutdown.
func (p *publisher) flush(ctx context.Context) {
	if p.p == nil {
		return
	}
	for {
		select {
		case e := <-p.q:
			p.send(ctx, e)
		default:
			return
		}
	}
}

func (p *publisher) send(ctx context.Context, e Event) {
	err := p.p.Publish(ctx, []transport.Message{e.Message()}, func(_ int, err error) {
		if err != nil {
			p.met.eventsFailed.Inc()
			p.log.Warn("status event not stored", zap.String("module", e.Module), zap.Error(err))
		}
	})
	if err != nil {
		p.met.eventsFailed.Inc()
		p.log.Warn("status event not published", zap.String("module", e.Module), zap.Error(err))
	}
}

func sortHandovers(hs []Handover) {
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].DetectedAt.Before(hs[j].DetectedAt) })
}
