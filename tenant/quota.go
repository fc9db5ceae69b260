package tenant

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/kiln-iot/kiln/clock"
)

// QuotaError reports a refused request and when it could succeed.
type QuotaError struct {
	Tenant string
	// Quota names the quota: "samples_per_second", "writes_per_minute" or
	// "tags".
	Quota string
	// Limit is the quota's value; Requested what the request needed.
	Limit     float64
	Requested int
	// RetryAfter is how long until the same request would pass; 0 when
	// waiting will not help (a batch larger than the burst, the tag cap).
	RetryAfter time.Duration
}

func (e *QuotaError) Error() string {
	s := fmt.Sprintf("tenant %s: quota %s (%g) exceeded by a request for %d", e.Tenant, e.Quota, e.Limit, e.Requested)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %v", e.RetryAfter)
	} else {
		s += "; retrying will not help"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// limits holds a tenant's token buckets; nil buckets are unlimited.
type limits struct {
	clock   clock.Clock
	samples *rate.Limiter
	writes  *rate.Limiter
}

func newLimits(q Quotas, c clock.Clock) *limits {
	l := &limits{clock: c}
	if q.SamplesPerSecond > 0 {
		l.samples = rate.NewLimiter(rate.Limit(q.SamplesPerSecond), max(1, int(q.SamplesPerSecond)))
	}
	if q.WritesPerMinute > 0 {
		l.writes = rate.NewLimiter(rate.Limit(q.WritesPerMinute/60), max(1, int(q.WritesPerMinute)))
	}
	return l
}

// AllowWrite takes one write and n samples from the tenant's quotas, or
// takes nothing and returns a *QuotaError when either is exhausted.
func (t *Tenant) AllowWrite(n int) error {
	l := t.limits
	now := l.clock.Now()
	var taken []*rate.Reservation
	undo := func() {
		for _, r := range taken {
			r.CancelAt(now)
		}
	}
	try := func(lim *rate.Limiter, quota string, limit float64, k int) error {
		if lim == nil || k == 0 {
			return nil
		}
		r := lim.ReserveN(now, k)
		if !r.OK() {
			return &QuotaError{Tenant: t.id, Quota: quota, Limit: limit, Requested: k}
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return &QuotaError{Tenant: t.id, Quota: quota, Limit: limit, Requested: k, RetryAfter: d}
		}
		taken = append(taken, r)
		return nil
	}
	if err := try(l.writes, "writes_per_minute", t.quotas.WritesPerMinute, 1); err != nil {
		return err
	}
	if err := try(l.samples, "samples_per_second", t.quotas.SamplesPerSecond, n); err != nil {
		undo()
		return err
	}
	return nil
}
