package supervise

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/config"
)

// ProbeKind names a probe.
type ProbeKind int

// Probe kinds, with Kubernetes semantics.
const (
	// Liveness: FailureThreshold failures in a row restart the child.
	Liveness ProbeKind = iota + 1
	// Readiness: the verdict is reported (Status, events), never acted on.
	Readiness
	// Startup: until it succeeds once, liveness and readiness are not
	// probed; FailureThreshold failures in a row restart the child.
	Startup
)

var probeNames = map[ProbeKind]string{Liveness: "liveness", Readiness: "readiness", Startup: "startup"}

// String returns "liveness", "readiness" or "startup".
func (k ProbeKind) String() string {
	if n, ok := probeNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ProbeKind(%d)", int(k))
}

// MarshalText encodes k by name.
func (k ProbeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Probe is one periodic health check of a running child. Zero fields take
// Kubernetes' defaults.
type Probe struct {
	// Check probes the child's current instance, svc; a nil error is a
	// success. It must honour ctx, which ends after Timeout.
	Check func(ctx context.Context, svc Service) error
	// InitialDelay is the wait after the child's start before the first
	// check (default 0).
	InitialDelay time.Duration
	// Period is the wait between the end of one check and the next
	// (default 10s).
	Period time.Duration
	// Timeout bounds one check, in real time (default 1s); a check that
	// runs out of it fails.
	Timeout time.Duration
	// FailureThreshold is how many failures in a row make the verdict
	// unhealthy (default 3).
	FailureThreshold int
	// SuccessThreshold is how many successes in a row make an unhealthy
	// verdict healthy again (default 1).
	SuccessThreshold int
}

// Health is a child's optional probes; a nil probe is not run.
type Health struct {
	Liveness  *Probe
	Readiness *Probe
	Startup   *Probe
}

func (h Health) validate() error {
	var pr config.Problems
	for _, p := range []struct {
		k ProbeKind
		p *Probe
	}{{Liveness, h.Liveness}, {Readiness, h.Readiness}, {Startup, h.Startup}} {
		if p.p == nil {
			continue
		}
		at := p.k.String()
		if p.p.Check == nil {
			pr.Add(at+".check", "is nil")
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"initial_delay", p.p.InitialDelay}, {"period", p.p.Period}, {"timeout", p.p.Timeout}} {
			if d.v < 0 {
				pr.Add(at+"."+d.name, "%v is negative", d.v)
			}
		}
		if p.p.FailureThreshold < 0 {
			pr.Add(at+".failure_threshold", "%d is negative", p.p.FailureThreshold)
		}
		if p.p.SuccessThreshold < 0 {
			pr.Add(at+".success_threshold", "%d is negative", p.p.SuccessThreshold)
		}
	}
	return pr.Err()
}

func (p Probe) withDefaults() Probe {
	if p.Period <= 0 {
		p.Period = 10 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = time.Second
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = 3
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = 1
	}
	return p
}

// prober runs one probe against one run of a child.
type prober struct {
	kind ProbeKind
	p    Probe
	r    *run
	l    *loop
	c    *child
}

// check runs one check, bounded by the timeout, turning a panic into a
// failure.
func (pr *prober) check(ctx context.Context) (err error) {
	cctx, cancel := context.WithTimeout(ctx, pr.p.Timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	err = pr.p.Check(cctx, pr.r.svc)
	if err == nil && cctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%s probe: %w", pr.kind, cctx.Err())
	}
	return err
}

// sleep waits d on the supervisor's clock; false when ctx ended.
func (pr *prober) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := pr.l.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// run probes until ctx ends or, for liveness and startup, until the
// verdict is final: it returns true when a startup probe succeeded.
func (pr *prober) run(ctx context.Context) bool {
	healthy := pr.kind != Readiness // readiness starts unready
	fails, oks := 0, 0
	if !pr.sleep(ctx, pr.p.InitialDelay) {
		return false
	}
	for {
		err := pr.check(ctx)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			fails, oks = 0, oks+1
			if pr.kind == Startup {
				pr.l.probeResult(pr.c, pr.r, pr.kind, true, nil)
				return true
			}
			if !healthy && oks >= pr.p.SuccessThreshold {
				healthy = true
				pr.l.probeResult(pr.c, pr.r, pr.kind, true, nil)
			}
		} else {
			oks, fails = 0, fails+1
			if fails >= pr.p.FailureThreshold && (healthy || pr.kind == Readiness && fails == pr.p.FailureThreshold) {
				healthy = false
				pr.l.probeResult(pr.c, pr.r, pr.kind, false, err)
				if pr.kind != Readiness {
					return false
				}
			}
		}
		if !pr.sleep(ctx, pr.p.Period) {
			return false
		}
	}
}
