package supervise

import (
	"encoding/json"
	"time"
)

// Status is a snapshot of a supervisor and, through nested supervisors,
// of its whole tree. It marshals to JSON for an HTTP endpoint.
type Status struct {
	// Name is the supervisor's path ("root/ai").
	Name     string   `json:"name"`
	Strategy Strategy `json:"strategy"`
	// State is "running", "stopped" or "escalated".
	State string `json:"state"`
	// LastError is what the last Serve returned.
	LastError string        `json:"last_error,omitempty"`
	Children  []ChildStatus `json:"children"`
}

// ChildStatus is one child in a Status.
type ChildStatus struct {
	Name     string  `json:"name"`
	State    State   `json:"state"`
	Restart  Restart `json:"restart"`
	Restarts int     `json:"restarts"`
	// LastError is the child's last failure.
	LastError string `json:"last_error,omitempty"`
	// Since is when the current run started (running children only).
	Since time.Time `json:"since,omitzero"`
	// Uptime is how long the current run has lasted; it marshals as a
	// Go duration string ("1m30s").
	Uptime time.Duration `json:"-"`
	// Live, Ready and Started are the probe verdicts of a running child,
	// present only for the probes it has.
	Live    *bool `json:"live,omitempty"`
	Ready   *bool `json:"ready,omitempty"`
	Started *bool `json:"started,omitempty"`
	// Tree is the status of a child that is itself a supervisor.
	Tree *Status `json:"tree,omitempty"`
}

// MarshalJSON adds "uptime" as a duration string.
func (c ChildStatus) MarshalJSON() ([]byte, error) {
	type plain ChildStatus
	v := struct {
		plain
		Uptime string `json:"uptime,omitempty"`
	}{plain: plain(c)}
	if c.State == StateRunning {
		v.Uptime = c.Uptime.String()
	}
	return json.Marshal(v)
}

// childSnap is what the loop publishes about a child.
type childSnap struct {
	st  ChildStatus
	svc Service
	r   *run
	h   Health
}

// publish makes the loop's view of the children visible to Status.
func (l *loop) publish() {
	snap := l.snapshot()
	l.s.mu.Lock()
	l.s.snap = snap
	l.s.mu.Unlock()
}

func (l *loop) snapshot() []childSnap {
	snap := make([]childSnap, len(l.children))
	for i, c := range l.children {
		cs := ChildStatus{Name: c.spec.Name, State: c.state, Restart: c.spec.Restart, Restarts: c.restarts}
		if c.lastErr != nil {
			cs.LastError = c.lastErr.Error()
		}
		snap[i] = childSnap{st: cs, h: c.spec.Health}
		if r := c.run; r != nil {
			snap[i].st.Since, snap[i].svc, snap[i].r = r.started, r.svc, r
		}
	}
	return snap
}

// Status returns a snapshot of the supervisor and its subtrees.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	st := Status{Name: s.path, Strategy: s.cfg.Strategy, State: s.state}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	var snap []childSnap
	if s.running {
		snap = s.snap
	} else {
		for _, sp := range s.specs {
			snap = append(snap, childSnap{st: ChildStatus{Name: sp.Name, State: StateStopped, Restart: sp.Restart}})
		}
		// Keep what the last run learned about children still present.
		for _, old := range s.snap {
			for i := range snap {
				if snap[i].st.Name == old.st.Name {
					snap[i].st.Restarts, snap[i].st.LastError = old.st.Restarts, old.st.LastError
				}
			}
		}
	}
	s.mu.Unlock()

	now := s.clock.Now()
	for _, cs := range snap {
		c := cs.st
		if c.State == StateRunning && cs.r != nil {
			c.Uptime = now.Sub(c.Since)
			cs.r.mu.Lock()
			verdict := func(p *Probe, k ProbeKind) *bool {
				if p == nil {
					return nil
				}
				v := cs.r.health[k]
				return &v
			}
			c.Live = verdict(cs.h.Liveness, Liveness)
			c.Ready = verdict(cs.h.Readiness, Readiness)
			c.Started = verdict(cs.h.Startup, Startup)
			cs.r.mu.Unlock()
			if sub, ok := cs.svc.(interface{ Status() Status }); ok {
				t := sub.Status()
				c.Tree = &t
			}
		} else {
			c.Since = time.Time{}
		}
		st.Children = append(st.Children, c)
	}
	return st
}
