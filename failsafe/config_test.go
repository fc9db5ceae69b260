package failsafe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/config"
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

// problem is one expected problem: line, YAML path, part of the message.
type problem struct {
	line int
	path string
	msg  string
}

// TestParseReportsEveryProblemOfAFileInOneRun parses broken files, each
// with mistakes of several kinds, and checks that one Parse names every
// one with file, line and YAML path, in words without Go type names.
func TestParseReportsEveryProblemOfAFileInOneRun(t *testing.T) {
	const fs = "    fail_safe: {write: [{tag: T, value: \"1\"}]}\n"
	for _, c := range []struct {
		name, yaml string
		want       []problem
	}{
		{"syntax", "modules: [\n", []problem{{1, "", "YAML syntax"}}},
		{"unknown field, wrong kind and validation together", "modules:\n  - name: a\n    proces: {path: x}\n    heartbeat: {source: tag, tag: T, timeout: soon}\n" + fs, []problem{
			{3, "modules[0].process", `unknown field "proces"`},
			{4, "modules[0].heartbeat.timeout", `"soon" is not a duration such as 500ms`},
			{2, "modules[0]", "give process or service"},
		}},
		{"no modules", "listen: 127.0.0.1:1\n", []problem{{0, "modules", "is required"}}},
		{"empty", "", []problem{{0, "modules", "is required"}}},
		{"no process or service", "modules:\n  - name: a\n" + fs, []problem{{2, "modules[0]", "give process or service"}}},
		{"names", "modules:\n  - {name: a/b, process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n  - {name: a/b, process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n  - {process: {path: x}, fail_safe: {write: [{tag: T, value: \"1\"}]}}\n", []problem{
			{2, "modules[0].name", `"a/b" has a '/' or spaces`},
			{3, "modules[1].name", `"a/b" has a '/' or spaces`},
			{4, "modules[2].name", "is required"},
		}},
		{"no fail-safe", "modules:\n  - name: a\n    process: {path: x}\n  - name: b\n    process: {path: \"\"}\n", []problem{
			{2, "modules[0].fail_safe.write", "no fail-safe tags"},
			{5, "modules[1].process.path", "is required"},
			{4, "modules[1].fail_safe.write", "no fail-safe tags"},
		}},
		{"heartbeat", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat:\n      source: smoke\n      period: -1s\n" + fs, []problem{
			{5, "modules[0].heartbeat.source", `"smoke": want tag, topic or http`},
			{6, "modules[0].heartbeat.period", "-1s is negative"},
		}},
		{"timeout below period", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat: {source: tag, tag: T, period: 2s, timeout: 1s}\n" + fs, []problem{
			{4, "modules[0].heartbeat.timeout", "1s must be longer than the period 2s"},
		}},
		{"service", "modules:\n  - name: a\n    service:\n      url: ftp://x\n      expect_status: 42\n" + fs, []problem{
			{4, "modules[0].service.url", `"ftp://x" is not an http:// or https:// URL`},
			{5, "modules[0].service.expect_status", "42 is not an HTTP status"},
		}},
		{"http heartbeat without url", "modules:\n  - name: a\n    process: {path: x}\n    heartbeat: {source: http}\n" + fs, []problem{
			{4, "modules[0].heartbeat.url", "missing"},
		}},
		{"envelope", "modules:\n  - name: a\n    process: {path: x}\n    envelope:\n      limits:\n        - {tag: T, min: 5, max: 1}\n        - {min: x}\n" + fs, []problem{
			{7, "modules[0].envelope.limits[1].min", `"x" is not a number`},
			{6, "modules[0].envelope.limits[0].min", "5 above max 1"},
			{7, "modules[0].envelope.limits[1].tag", "is required"},
		}},
		{"probes", "modules:\n  - name: a\n    process: {path: x}\n    liveness: {period: -1s, failure_threshold: -2}\n    readiness: {url: \"http://x\", expect_status: 700}\n" + fs, []problem{
			{4, "modules[0].liveness.url", "is required"},
			{4, "modules[0].liveness.period", "-1s is negative"},
			{4, "modules[0].liveness.failure_threshold", "-2 is negative"},
			{5, "modules[0].readiness.expect_status", "700 is not an HTTP status"},
		}},
		{"restart", "modules:\n  - name: a\n    process: {path: x}\n    restart: {intensity: -1, period: often, retry: {multiplier: 0.5}}\n" + fs, []problem{
			{4, "modules[0].restart.period", `"often" is not a duration such as 500ms`},
			{4, "modules[0].restart.intensity", "-1 is negative"},
			{4, "modules[0].restart.retry.multiplier", "0.5 is below 1"},
		}},
		{"fail-safe retry and hand-back", "modules:\n  - name: a\n    process: {path: x}\n    fail_safe:\n      write: [{tag: T, value: \"1\"}, {value: \"2\"}]\n      retry: {multiplier: 0.5, jitter: .nan}\n      hand_back: {stable: -1s, manual_only: perhaps, write: [{value: \"3\"}]}\n", []problem{
			{7, "modules[0].fail_safe.hand_back.manual_only", `"perhaps" is not true or false`},
			{5, "modules[0].fail_safe.write[1].tag", "is required"},
			{7, "modules[0].fail_safe.hand_back.write[0].tag", "is required"},
			{7, "modules[0].fail_safe.hand_back.stable", "-1s is negative"},
			{6, "modules[0].fail_safe.retry.multiplier", "0.5 is below 1"},
			{6, "modules[0].fail_safe.retry.jitter", "is not a number"},
		}},
		{"events and heartbeats", "events:\n  spool: {segment_bytes: 10}\n  pulsar: {topic: t}\nheartbeats: {topic: t, type: fanout}\nmodules:\n  - name: a\n    process: {path: x}\n" + fs, []problem{
			{1, "events", "give spool or pulsar, not both"},
			{2, "events.spool.segment_bytes", "10 is below 4096"},
			{3, "events.pulsar.client.url", "is required"},
			{4, "heartbeats.client.url", "is required"},
			{4, "heartbeats.subscription", "is required"},
			{4, "heartbeats.type", `"fanout" is not shared`},
		}},
		{"point files that are not there", "points: [nowhere.yaml, \"\", /nowhere/plant.yaml]\nmodules:\n  - name: a\n    process: {path: x}\n" + fs, []problem{
			{1, "points[0]", `"nowhere.yaml" is not in . (a relative name is resolved against the configuration file's directory)`},
			{1, "points[1]", "is an empty file name"},
			{1, "points[2]", `"/nowhere/plant.yaml" is not there`},
		}},
		{"lists and sections swapped", "points: plant.yaml\nmodules: {name: a}\n", []problem{
			{1, "points", `is "plant.yaml", want a list`},
			{2, "modules", "is a section, want a list"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := failsafe.Parse("m.yaml", []byte(c.yaml))
			if !errors.Is(err, failsafe.ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
			got := config.List(err)
			for i, w := range c.want {
				if i >= len(got) {
					t.Errorf("missing %d: %s: %q", w.line, w.path, w.msg)
					continue
				}
				g := got[i]
				if g.File != "m.yaml" || g.Line != w.line || g.Path != w.path || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("problem %d = %v\n   want line %d, path %q, message with %q", i, g, w.line, w.path, w.msg)
				}
			}
			for _, g := range got[min(len(got), len(c.want)):] {
				t.Errorf("unexpected problem %v", g)
			}
			for _, g := range got {
				for _, word := range []string{"!!", "unmarshal", "time.Duration", "backoff:", "not found in type"} {
					if strings.Contains(g.Msg, word) {
						t.Errorf("%v: names Go's %q", g, word)
					}
				}
			}
		})
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
		for _, fe := range config.List(err) {
			if fe.File != "f.yaml" {
				t.Fatalf("problem without its file: %v", fe)
			}
		}
	})
}
