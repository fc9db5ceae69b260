package console

import (
	"context"
	"sync"

	"github.com/kiln-iot/kiln/plc"
)

// Hub fans batches of samples out to watchers. It is a plc.Sink, so a
// backend puts it behind its Poller (or beside its other sinks) and
// implements Backend.Watch with Hub.Watch. The zero Hub is ready.
type Hub struct {
	mu       sync.RWMutex
	next     int
	watchers map[int]func([]plc.Sample)
}

// WriteSamples hands samples to every watcher. It never fails.
func (h *Hub) WriteSamples(_ context.Context, samples []plc.Sample) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, fn := range h.watchers {
		fn(samples)
	}
	return nil
}

// Watch calls fn with every batch until ctx ends, and returns ctx's
// error.
func (h *Hub) Watch(ctx context.Context, fn func([]plc.Sample)) error {
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = map[int]func([]plc.Sample){}
	}
	id := h.next
	h.next++
	h.watchers[id] = fn
	h.mu.Unlock()
	<-ctx.Done()
	h.mu.Lock()
	delete(h.watchers, id)
	h.mu.Unlock()
	return ctx.Err()
}

// Watchers returns how many watchers there are.
func (h *Hub) Watchers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.watchers)
}
