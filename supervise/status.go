package supervise

import (
	"encoding/json"
	"fmt"
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

// UnmarshalJSON reads what MarshalJSON writes, uptime included, so a
// Status fetched from an HTTP endpoint decodes back into a Status.
func (c *ChildStatus) UnmarshalJSON(b []byte) error {
	type plain ChildStatus
	var v struct {
		plain
		Uptime string `json:"uptime"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = ChildStatus(v.plain)
	if v.Uptime != "" {
		d, err := time.ParseDuration(v.Uptime)
		if err != nil {
			return fmt.Errorf("supervise: child %q: uptime: %w", c.Name, err)
		}
		c.Uptime = d
	}
	return nil
}

// childView is what Status reads about a child under the lock.
type childView struct {
	st  ChildStatus
	svc Service
	r   *run
	h   Health
}

// Status returns a snapshot of the supervisor and its subtrees.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	st := Status{Name: s.path, Strategy: s.cfg.Strategy, State: s.state}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	var last map[string]*child
	if s.cur != nil {
		last = make(map[string]*child, len(s.cur.children))
		for _, c := range s.cur.children {
			last[c.spec.Name] = c
		}
	}
	// Membership is s.specs; what the running (or last) Serve knows about
	// each child fills in its state.
	views := make([]childView, len(s.specs))
	for i, sp := range s.specs {
		v := childView{st: ChildStatus{Name: sp.Name, State: StateStopped, Restart: sp.Restart}, h: sp.Health}
		if c := last[sp.Name]; c != nil {
			v.st.Restarts = c.restarts
			if c.lastErr != nil {
				v.st.LastError = c.lastErr.Error()
			}
			if s.running {
				v.st.State = c.state
				if r := c.run; r != nil && c.state == StateRunning {
					v.st.Since, v.svc, v.r = r.started, r.svc, r
				}
			}
		}
		views[i] = v
	}
	s.mu.Unlock()

	now := s.clock.Now()
	st.Children = make([]ChildStatus, 0, len(views))
	for _, v := range views {
		c := v.st
		if v.r != nil {
			c.Uptime = now.Sub(c.Since)
			if m := v.r.mon; m != nil {
				m.mu.Lock()
				verdict := func(p *Probe, k ProbeKind) *bool {
					if p == nil {
						return nil
					}
					ok := m.health[k]
					return &ok
				}
				c.Live = verdict(v.h.Liveness, Liveness)
				c.Ready = verdict(v.h.Readiness, Readiness)
				c.Started = verdict(v.h.Startup, Startup)
				m.mu.Unlock()
			}
			if sub, ok := v.svc.(interface{ Status() Status }); ok {
				t := sub.Status()
				c.Tree = &t
			}
		}
		st.Children = append(st.Children, c)
	}
	return st
}
