package supervise

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/config"
)

// Service is anything a supervisor can run. Serve runs until ctx is
// cancelled (then it returns promptly, with any value) or until it fails
// (it returns the error). A nil return while ctx is live is a clean exit.
type Service interface {
	Serve(ctx context.Context) error
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context) error

// Serve calls f(ctx).
func (f ServiceFunc) Serve(ctx context.Context) error { return f(ctx) }

// Restart says when a child that exits is started again (OTP's restart
// types).
type Restart int

// Restart types. The zero value is Permanent.
const (
	// Permanent children are always restarted, after clean exits too.
	Permanent Restart = iota
	// Transient children are restarted only after an abnormal exit (an
	// error, a panic, a hang, a failed liveness probe).
	Transient
	// Temporary children are never restarted. Unlike OTP they stay in the
	// supervisor, in state Done or Failed, until Remove or Restart.
	Temporary
)

var restartNames = [...]string{"permanent", "transient", "temporary"}

// String returns "permanent", "transient" or "temporary".
func (r Restart) String() string {
	if r < 0 || int(r) >= len(restartNames) {
		return fmt.Sprintf("Restart(%d)", int(r))
	}
	return restartNames[r]
}

// MarshalText encodes r by name.
func (r Restart) MarshalText() ([]byte, error) {
	if r < 0 || int(r) >= len(restartNames) {
		return nil, fmt.Errorf("%w: restart type %d", ErrInvalid, int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (r *Restart) UnmarshalText(b []byte) error {
	for i, n := range restartNames {
		if strings.EqualFold(string(b), n) {
			*r = Restart(i)
			return nil
		}
	}
	return fmt.Errorf("%w: restart type %q (want permanent, transient or temporary)", ErrInvalid, b)
}

// Spec describes one child. Its zero value, given a Name and New, is a
// permanent child with a 5 s shutdown timeout and no probes.
type Spec struct {
	// Name identifies the child in its supervisor (unique there) and in
	// logs, events, metrics and Status. It must not contain '/', which
	// joins the names of nested supervisors into paths.
	Name string
	// New makes a fresh Service for every start, so a restart never reuses
	// broken state. An error (or a panic) counts as a failed start.
	New func() (Service, error)
	// Restart is the restart type (default Permanent).
	Restart Restart
	// Shutdown is how long a stopping child gets to return after its
	// context is cancelled (default 5s). A child still running then is
	// reported and left behind: Go cannot kill a goroutine.
	Shutdown time.Duration
	// Watchdog, when positive, is the heartbeat deadline: the child must
	// call Beat(ctx) at least this often, from its start on, or it counts
	// as hung and is cancelled and handled as failed (ErrHung).
	Watchdog time.Duration
	// Health holds optional liveness, readiness and startup probes.
	Health Health
}

// DefaultShutdown is the stop timeout of a Spec with Shutdown zero.
const DefaultShutdown = 5 * time.Second

func (s Spec) shutdown() time.Duration {
	if s.Shutdown <= 0 {
		return DefaultShutdown
	}
	return s.Shutdown
}

// Validate reports every bad field of s, each a *config.FieldError with
// the field's key (name, restart, health.liveness.period).
func (s Spec) Validate() error {
	var p config.Problems
	switch {
	case s.Name == "":
		p.Add("name", "is required")
	case strings.Contains(s.Name, "/"):
		p.Add("name", "%q contains '/'", s.Name)
	}
	if s.New == nil {
		p.Add("new", "is nil")
	}
	if s.Restart < Permanent || s.Restart > Temporary {
		p.Add("restart", "%d is not permanent, transient or temporary", int(s.Restart))
	}
	if s.Shutdown < 0 {
		p.Add("shutdown", "%v is negative", s.Shutdown)
	}
	if s.Watchdog < 0 {
		p.Add("watchdog", "%v is negative", s.Watchdog)
	}
	p.Nest("health", s.Health.validate())
	return p.Err()
}

// Errors of the package.
var (
	// ErrInvalid is matched by every configuration and spec error: it is
	// config.ErrInvalid, which every *config.FieldError matches.
	ErrInvalid = config.ErrInvalid
	// ErrEscalated is matched (errors.Is) by the *EscalationError a
	// supervisor returns when its restart intensity is exceeded.
	ErrEscalated = errors.New("supervise: restart intensity exceeded")
	// ErrHung is the failure of a child that missed its watchdog deadline.
	ErrHung = errors.New("supervise: watchdog deadline missed")
	// ErrLivenessFailed is the failure of a child whose liveness or
	// startup probe failed FailureThreshold times in a row.
	ErrLivenessFailed = errors.New("supervise: liveness probe failed")
	// ErrStopTimeout is returned by Serve when children did not return
	// within their Shutdown timeout and were left behind.
	ErrStopTimeout = errors.New("supervise: child did not stop in time")
	// ErrRunning is returned by Serve on a supervisor already serving.
	ErrRunning = errors.New("supervise: supervisor already running")
	// ErrDuplicate is returned by Add for a name already in use.
	ErrDuplicate = errors.New("supervise: duplicate child name")
	// ErrNotFound is returned by Remove and Restart for an unknown name.
	ErrNotFound = errors.New("supervise: no such child")
	// ErrStopped is returned by a call on a supervisor that stopped while
	// the call was pending.
	ErrStopped = errors.New("supervise: supervisor stopped")
)

// PanicError is the failure of a child (or its factory or probe) that
// panicked.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

// Error gives the panic value; Stack holds the stack.
func (e *PanicError) Error() string { return fmt.Sprintf("supervise: panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// EscalationError is what a supervisor's Serve returns when more than
// Intensity restarts happened within Period: it has stopped all its
// children and gives up, so its parent decides (by the restart type of
// the child the supervisor is there).
type EscalationError struct {
	// Supervisor is the path of the supervisor that gave up.
	Supervisor string
	// Child is the child whose failure broke the limit.
	Child string
	// Restarts and Period are the limit that was exceeded.
	Restarts int
	Period   time.Duration
	// Err is the child's last failure (another *EscalationError when the
	// child is itself a supervisor).
	Err error
}

// Error names the supervisor, the limit and the child that broke it.
func (e *EscalationError) Error() string {
	return fmt.Sprintf("supervise: %s: more than %d restarts in %v, last by %s: %v",
		e.Supervisor, e.Restarts, e.Period, e.Child, e.Err)
}

// Is matches ErrEscalated.
func (e *EscalationError) Is(target error) bool { return target == ErrEscalated }

// Unwrap returns the child's last failure.
func (e *EscalationError) Unwrap() error { return e.Err }
