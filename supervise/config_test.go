package supervise

import (
	"errors"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/backoff"
)

func TestConfigFromYAML(t *testing.T) {
	var cfg struct {
		Supervisor Config          `yaml:"supervisor"`
		Module     ProcessConfig   `yaml:"module"`
		Historian  HTTPCheckConfig `yaml:"historian"`
	}
	src := `
supervisor:
  name: edge
  strategy: rest_for_one
  intensity: 3
  period: 10s
  stable_after: 1m
  retry: {initial: 200ms, max: 1m, multiplier: 3, jitter: -1}
module:
  path: python3
  args: [-m, vision]
  env: [MODEL=/m.onnx]
  stop_timeout: 7s
historian:
  url: http://127.0.0.1:8086/health
  failure_threshold: 5
`
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{Name: "edge", Strategy: RestForOne, Intensity: 3, Period: 10 * time.Second, StableAfter: time.Minute,
		Retry: backoff.Config{Initial: 200 * time.Millisecond, Max: time.Minute, Multiplier: 3, Jitter: -1}}
	if cfg.Supervisor != want {
		t.Fatalf("config %+v, want %+v", cfg.Supervisor, want)
	}
	if err := cfg.Supervisor.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := cfg.Module; m.Path != "python3" || len(m.Args) != 2 || m.Env[0] != "MODEL=/m.onnx" || m.StopTimeout != 7*time.Second {
		t.Fatalf("process config %+v", m)
	}
	if h := cfg.Historian; h.FailureThreshold != 5 || h.Validate() != nil {
		t.Fatalf("http check config %+v", h)
	}
	var bad Config
	if err := yaml.Unmarshal([]byte("strategy: one_for_some\n"), &bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad strategy: %v", err)
	}
}

func TestBackoffScheduleFromConfig(t *testing.T) {
	c := Config{Retry: backoff.Config{Initial: time.Second, Max: 3 * time.Second, Jitter: -1}}.withDefaults()
	for attempt, want := range []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		if got := c.delay(attempt); got != want {
			t.Errorf("delay(%d) = %v, want %v", attempt, got, want)
		}
	}
}

// FuzzStrategyAndRestartText: any text either fails with ErrInvalid or
// decodes to a value that encodes back to the same name.
func FuzzStrategyAndRestartText(f *testing.F) {
	for _, s := range []string{"one_for_one", "ONE_FOR_ALL", "rest_for_one", "permanent", "Transient", "temporary", "", "x", "one_for_one\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var st Strategy
		if err := st.UnmarshalText([]byte(s)); err == nil {
			b, err := st.MarshalText()
			var again Strategy
			if err != nil || again.UnmarshalText(b) != nil || again != st {
				t.Fatalf("strategy %q does not round-trip: %v", s, err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("strategy %q: %v", s, err)
		}
		var r Restart
		if err := r.UnmarshalText([]byte(s)); err == nil {
			b, err := r.MarshalText()
			var again Restart
			if err != nil || again.UnmarshalText(b) != nil || again != r {
				t.Fatalf("restart %q does not round-trip: %v", s, err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("restart %q: %v", s, err)
		}
	})
}
