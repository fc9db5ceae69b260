package gateway

import (
	"sync"

	"github.com/kiln-iot/kiln/plc"
)

// latest keeps the last sample of each tag read by subscription (the
// poller keeps its own).
type latest struct {
	mu sync.RWMutex
	m  map[string]plc.Sample
}

func newLatest() *latest { return &latest{m: map[string]plc.Sample{}} }

func (l *latest) put(samples []plc.Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range samples {
		l.m[s.Tag] = s
	}
}

func (l *latest) get(tag string) (plc.Sample, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.m[tag]
	return s, ok
}

// sample returns the latest sample of a tag, from the poller or the
// subscriptions; Bad/not read before anything was read.
func (g *Gateway) sample(tag string) plc.Sample {
	if s, ok := g.poller.Latest(tag); ok {
		return s
	}
	if s, ok := g.pushed.get(tag); ok {
		return s
	}
	return plc.Sample{Tag: tag}
}

// deviceState is what the gateway knows of one device's health.
type deviceState struct {
	Name     string `json:"name"`
	Driver   string `json:"driver"`
	Endpoint string `json:"endpoint"`
	Up       bool   `json:"up"`
	Tags     int    `json:"tags"`
	Good     int    `json:"good"`
	// Problem is the quality of a bad tag, when there is one, followed by
	// the connection's error while the device is down and its driver
	// says why (connection refused, rack and slot refused by the PLC).
	Problem string `json:"problem,omitempty"`
	// ConnectionError is that error alone.
	ConnectionError string `json:"connection_error,omitempty"`
}

// devices returns every device's state: up when at least one of its tags
// reads good.
func (g *Gateway) devices() []deviceState {
	idx := map[string]int{}
	out := make([]deviceState, len(g.db.Devices))
	for i, d := range g.db.Devices {
		out[i] = deviceState{Name: d.Name, Driver: d.Driver, Endpoint: d.Endpoint}
		idx[d.Name] = i
	}
	for _, t := range g.db.Tags {
		ds := &out[idx[t.Device]]
		ds.Tags++
		s := g.sample(t.Name)
		if s.Quality.IsGood() {
			ds.Good++
			ds.Up = true
		} else if ds.Problem == "" {
			ds.Problem = s.Quality.String()
		}
	}
	for i := range out {
		ds := &out[i]
		cr, ok := g.drivers[ds.Name].(plc.ConnectionReporter)
		if !ok || ds.Up {
			continue
		}
		if err := cr.ConnectionError(); err != nil {
			ds.ConnectionError = err.Error()
			if ds.Problem == "" {
				ds.Problem = ds.ConnectionError
			} else {
				ds.Problem += ": " + ds.ConnectionError
			}
		}
	}
	return out
}
