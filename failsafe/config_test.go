package failsafe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/plc"
)

const goodModule = `modules:
  - name: tuner
    process: {path: /opt/ai/tuner}
    heartbeat: {source: tag, tag: AI.Heartbeat}
    fail_safe:
      write: [{tag: AI.Enable, value: false}]
`

func TestParseErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"syntax", "modules: [\n", "m.yaml:"},
		{"unknown field", "modules:\n  - name: a\n    proces: {path: x}\n", "m.yaml:3: field proces not found"},
		{"bad duration", "modules:\n  - name: a\n    heartbeat: {source: tag, tag: T, timeout: soon}\n", "m.yaml:3: cannot unmarshal"},
		{"no modules", "listen: 127.0.0.1:1\n", "m.yaml: modules: no modules"},
		{"empty", "", "m.yaml: empty file"},
		{"no process or service", "modules:\n  - name: a\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n", "m.yaml:2: modules[0]: give process or service"},
		{"duplicate name", "modules:\n  - {name: a, process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n  - {name: a, process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n",
			"m.yaml:3: modules[1].name: \"a\" used twice"},
		{"slash in name", "modules:\n  - {name: a/b, process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n", "modules[0].name: \"a/b\": no '/' or spaces"},
		{"no fail-safe", "modules:\n  - name: a\n    process: {path: x}\n", "m.yaml:2: modules[0].fail_safe.write: no fail-safe tags"},
		{"bad source", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat:\n      source: smoke\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"m.yaml:5: modules[0].heartbeat.source: \"smoke\": want tag, topic or http"},
		{"timeout below period", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat: {source: tag, tag: T, period: 2s, timeout: 1s}\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"modules[0].heartbeat.timeout: 1s must be longer than the period 2s"},
		{"bad service url", "modules:\n  - name: a\n    service:\n      url: ftp://x\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"m.yaml:4: modules[0].service.url: \"ftp://x\": want an http(s) URL"},
		{"http heartbeat without url", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat: {source: http}\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"modules[0].heartbeat.url: missing"},
		{"envelope min above max", "modules:\n  - name: a\n    process: {path: x}\n    envelope:\n      limits:\n        - {tag: T, min: 5, max: 1}\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"m.yaml:6: modules[0].envelope.limits[0].min: 5 above max 1"},
		{"bad status", "modules:\n  - name: a\n    service: {url: \"http://x\", expect_status: 42}\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n",
			"modules[0].service.expect_status: 42 is not an HTTP status"},
		{"bad restart", "modules:\n  - name: a\n    process: {path: x}\n    restart: {intensity: -1}\n    fail_safe: {write: [{tag: T, value: \"1\"}]}\n", "m.yaml:4: modules[0].restart:"},
		{"retry shrinking", "modules:\n  - name: a\n    process: {path: x}\n    fail_safe:\n      write: [{tag: T, value: \"1\"}]\n      retry: {multiplier: 0.5}\n",
			"m.yaml:6: modules[0].fail_safe.retry: backoff: multiplier 0.5 is below 1"},
		{"retry jitter nan", "modules:\n  - name: a\n    process: {path: x}\n    fail_safe:\n      write: [{tag: T, value: \"1\"}]\n      retry: {jitter: .nan}\n",
			"fail_safe.retry: backoff: jitter NaN is not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := failsafe.Parse("m.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, failsafe.ErrConfig) || len(failsafe.ConfigErrors(err)) == 0 {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := failsafe.Parse("m.yaml", []byte("modules:\n  - name: \"\"\n    process: {path: x}\n  - name: b\n    process: {path: y}\n"))
	if n := len(failsafe.ConfigErrors(err)); n != 3 {
		t.Errorf("%d errors, want 3 (a missing name, two missing fail-safe plans): %v", n, err)
	}
}

func TestCheckAgainstThePointDatabase(t *testing.T) {
	p := newPlant(t)
	cases := []struct{ name, yaml, want string }{
		{"unknown tag", strings.Replace(goodModule, "AI.Enable", "AI.Nope", 1), "m.yaml:6: modules[0].fail_safe.write[0].tag: unknown tag \"AI.Nope\""},
		{"unknown heartbeat tag", strings.Replace(goodModule, "AI.Heartbeat", "AI.Beat", 1), "m.yaml:4: modules[0].heartbeat.tag: unknown tag \"AI.Beat\""},
		{"value of the wrong type", strings.Replace(goodModule, "value: false", "value: maybe", 1), "m.yaml:6: modules[0].fail_safe.write[0].value:"},
		{"value beyond the tag's limits", strings.Replace(goodModule, "{tag: AI.Enable, value: false}", "{tag: AI.Setpoint, value: 5000}", 1), "5000 outside the tag's write limits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := failsafe.Parse("m.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = failsafe.New(cfg, p.db, map[string]plc.Driver{device: p.drv})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
	cfg, err := failsafe.Parse("m.yaml", []byte(goodModule))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failsafe.New(cfg, p.db, map[string]plc.Driver{device: p.drv}); err != nil {
		t.Errorf("good configuration refused: %v", err)
	}
	cfg, err = failsafe.Parse("m.yaml", []byte(strings.Replace(goodModule, "source: tag, tag: AI.Heartbeat", "source: topic", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failsafe.New(cfg, p.db, nil); err == nil || !strings.Contains(err.Error(), "m.yaml:4: modules[0].heartbeat.source: source topic needs a heartbeat subscription") {
		t.Errorf("topic heartbeat without a subscription: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodModule))
	f.Add([]byte("modules:\n  - name: a\n    service: {url: \"http://x\"}\n    liveness: {period: 1s}\n    envelope: {limits: [{tag: T, min: 1}]}\n    fail_safe: {write: [{tag: T, value: \"1\"}], hand_back: {stable: 1s, manual_only: true}}\n"))
	f.Add([]byte("events: {spool: {dir: /tmp/x}}\nheartbeats: {client: {url: \"pulsar://x:6650\"}, topic: t, subscription: s}\nmodules: []\n"))
	f.Add([]byte("modules: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := failsafe.Parse("f.yaml", data)
		if err != nil && len(failsafe.ConfigErrors(err)) == 0 {
			t.Fatalf("error without location: %v", err)
		}
	})
}
