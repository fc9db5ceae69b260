package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// streamKeepAlive is how often an idle stream sends a comment, so proxies
// and browsers keep the connection.
const streamKeepAlive = 15 * time.Second

// stream sends Server-Sent Events: first a "snapshot" event with the
// latest sample of every watched tag, then "samples" events with the
// changes only. Changes that arrive while the client is slow are merged
// (the newest sample per tag wins), so a slow page never holds up the
// backend and never gets a backlog.
func (c *Console) stream(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	names, e := c.tagParams(r, true, 100000)
	if e != nil {
		return e
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return errf(http.StatusInternalServerError, "internal", "", "the server cannot stream")
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	all := len(r.URL.Query()["tag"]) == 0

	c.streams.Add(1)
	defer c.streams.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	var mu sync.Mutex
	pending := map[string]plc.Sample{}
	wake := make(chan struct{}, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = c.backend.Watch(ctx, func(batch []plc.Sample) {
			mu.Lock()
			n := 0
			for _, s := range batch {
				if all || want[s.Tag] {
					pending[s.Tag] = s
					n++
				}
			}
			mu.Unlock()
			if n > 0 {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		})
	}()
	defer func() { cancel(); <-watchDone }()

	snap, err := c.backend.Latest(ctx, names)
	if err != nil {
		return backendError("latest values", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !sendEvent(w, "snapshot", snap) {
		return nil
	}
	fl.Flush()

	keep := c.clk.NewTicker(streamKeepAlive)
	defer keep.Stop()
	var batch []plc.Sample
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keep.C():
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
			fl.Flush()
		case <-wake:
			mu.Lock()
			batch = batch[:0]
			for _, s := range pending {
				batch = append(batch, s)
			}
			clear(pending)
			mu.Unlock()
			if !sendEvent(w, "samples", batch) {
				return nil
			}
			fl.Flush()
		}
	}
}

func sendEvent(w http.ResponseWriter, event string, ss []plc.Sample) bool {
	out := make([]sampleJSON, len(ss))
	for i, s := range ss {
		out[i] = toJSON(s)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return false
	}
	buf := make([]byte, 0, len(data)+32)
	buf = append(buf, "event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	_, err = w.Write(buf)
	return err == nil
}
