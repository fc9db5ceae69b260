package supervise

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// Strategy says which children restart when one fails (OTP's restart
// strategies).
type Strategy int

// Strategies. The zero value is OneForOne.
const (
	// OneForOne restarts only the failed child.
	OneForOne Strategy = iota
	// OneForAll stops every other child (in reverse start order) and
	// restarts them all, in order.
	OneForAll
	// RestForOne stops the children started after the failed one (in
	// reverse order) and restarts the failed one and those, in order.
	RestForOne
)

var strategyNames = [...]string{"one_for_one", "one_for_all", "rest_for_one"}

// String returns "one_for_one", "one_for_all" or "rest_for_one".
func (s Strategy) String() string {
	if s < 0 || int(s) >= len(strategyNames) {
		return fmt.Sprintf("Strategy(%d)", int(s))
	}
	return strategyNames[s]
}

// MarshalText encodes s by name.
func (s Strategy) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(strategyNames) {
		return nil, fmt.Errorf("%w: strategy %d", ErrInvalid, int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (s *Strategy) UnmarshalText(b []byte) error {
	for i, n := range strategyNames {
		if strings.EqualFold(string(b), n) {
			*s = Strategy(i)
			return nil
		}
	}
	return fmt.Errorf("%w: strategy %q (want one_for_one, one_for_all or rest_for_one)", ErrInvalid, b)
}

// Config is a supervisor's settings. The zero value is a one_for_one
// supervisor allowing 5 restarts in 30s, with the default backoff.
type Config struct {
	// Name names the supervisor in logs, events and metrics. A supervisor
	// running as a child of another takes its child name instead. Default
	// "supervisor".
	Name string `yaml:"name"`
	// Strategy is the restart strategy (default one_for_one).
	Strategy Strategy `yaml:"strategy"`
	// Intensity is the most restarts allowed within Period (default 5).
	// One more and the supervisor stops its children and escalates.
	Intensity int `yaml:"intensity"`
	// Period is the sliding window of Intensity (default 30s).
	Period time.Duration `yaml:"period"`
	// Retry is the per-child delay schedule for consecutive restarts;
	// zero fields take package backoff's defaults (initial 100ms, max
	// 30s, multiplier 2, jitter 0.5, negative jitter for none). The first
	// consecutive restart is immediate, so Initial is the delay before
	// the second.
	Retry backoff.Config `yaml:"retry"`
	// StableAfter is how long a child must have run for its next failure
	// to count as a first one again (immediate restart, backoff reset);
	// default 10s.
	StableAfter time.Duration `yaml:"stable_after"`
}

// Defaults of Config.
const (
	DefaultIntensity   = 5
	DefaultPeriod      = 30 * time.Second
	DefaultStableAfter = 10 * time.Second
)

// Validate reports every bad field of c, each a *config.FieldError with
// its YAML path (retry.multiplier).
func (c Config) Validate() error {
	var p config.Problems
	if strings.Contains(c.Name, "/") {
		p.Add("name", "%q contains '/'", c.Name)
	}
	if c.Strategy < OneForOne || c.Strategy > RestForOne {
		p.Add("strategy", "%d is not one_for_one, one_for_all or rest_for_one", int(c.Strategy))
	}
	if c.Intensity < 0 {
		p.Add("intensity", "%d is negative", c.Intensity)
	}
	if c.Period < 0 {
		p.Add("period", "%v is negative", c.Period)
	}
	if c.StableAfter < 0 {
		p.Add("stable_after", "%v is negative", c.StableAfter)
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "supervisor"
	}
	if c.Intensity == 0 {
		c.Intensity = DefaultIntensity
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.StableAfter == 0 {
		c.StableAfter = DefaultStableAfter
	}
	return c
}

// delay is the wait before a child's restart after attempt consecutive
// failures (attempt 0: immediate).
func (c Config) delay(attempt int) time.Duration {
	if attempt == 0 {
		return 0
	}
	return backoff.Delay(c.Retry, attempt-1, rand.Float64())
}

// Option sets a code-only setting of a supervisor.
type Option func(*options)

type options struct {
	log     *zap.Logger
	clock   clock.Clock
	hook    func(Event)
	metrics *Metrics
}

// WithLogger logs through l (default: no logging).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock makes the supervisor, its probes and watchdogs use c (default
// the real clock); tests pass a clock.Fake.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEventHook calls h with every event of the supervisor, in order, on a
// goroutine of its own: a slow hook never blocks the tree (events beyond
// a queue of 1024 are dropped and counted). h must return eventually;
// Serve waits for the queued events to be delivered before it returns.
func WithEventHook(h func(Event)) Option { return func(o *options) { o.hook = h } }

// WithMetrics counts into m, which may be shared by every supervisor of a
// tree.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }
