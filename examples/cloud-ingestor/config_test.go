package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/config"
)

func TestEverySettingIsDocumented(t *testing.T) {
	paths := leaves(reflect.TypeFor[Config](), "")
	seen := map[string]bool{}
	for _, p := range paths {
		seen[p] = true
		if help[p] == "" {
			t.Errorf("setting %s has no help text", p)
		}
	}
	for p := range help {
		if !seen[p] {
			t.Errorf("help for %s, which is no setting", p)
		}
	}
}

func TestHelpListsEveryFlagAndTheFileFormat(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, io.Discard, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h = %v", err)
	}
	text := out.String()
	for _, want := range []string{"-config", "tenants: /etc/kiln/tenants.yaml", "samples-dlq", "SIGTERM"} {
		if !strings.Contains(text, want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	for _, p := range leaves(reflect.TypeFor[Config](), "") {
		if !strings.Contains(text, "-"+p+" ") && !strings.Contains(text, "-"+p+"\n") {
			t.Errorf("help lacks flag -%s", p)
		}
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	var c Config
	doc, err := config.DecodeYAML("example.yaml", []byte(exampleConfig), &c)
	if err != nil {
		t.Fatal(err)
	}
	l := &loaded{cfg: c.withDefaults(), file: "example.yaml", doc: doc}
	if err := l.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Ingest.MaxBatchDelay != 200*time.Millisecond || c.Store.Postgres.Retention != 2160*time.Hour || c.HTTP.Listen != ":9464" {
		t.Errorf("decoded %+v", c)
	}
}

// load runs the flag and file loading as run does.
func load(t *testing.T, file string, args ...string) (*loaded, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	ld := flags(fs)
	if file != "" {
		path := filepath.Join(t.TempDir(), "ingestor.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-config", path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return ld()
}

const minimal = `tenants: t.yaml
pulsar:
  url: pulsar://127.0.0.1:6650
store:
  sqlite:
    path: kiln.db
`

func TestFlagsOverrideTheFile(t *testing.T) {
	l, err := load(t, minimal+"ingest:\n  max_batch_delay: 1s\n", "-ingest.max_batch_delay", "50ms", "-pulsar.subscription", "other", "-ingest.retry.jitter", "-1")
	if err != nil {
		t.Fatal(err)
	}
	c := l.cfg
	if c.Ingest.MaxBatchDelay != 50*time.Millisecond || c.Pulsar.Subscription != "other" || c.Ingest.Retry.Jitter != -1 ||
		c.Store.SQLite.Path != "kiln.db" || c.HTTP.Listen != "127.0.0.1:9464" || c.Log.Level != "info" {
		t.Errorf("config %+v", c)
	}
	if _, err := load(t, "", "-ingest.max_batch_delay", "soon"); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Errorf("bad flag value: %v", err)
	}
}

// TestEveryProblemOfTheFileAndTheFlagsInOneRun loads broken
// configurations and checks that one load names every problem, each with
// its line (0: it came from a flag or is missing from the file) and YAML
// path, in words without Go type names.
func TestEveryProblemOfTheFileAndTheFlagsInOneRun(t *testing.T) {
	for _, c := range []struct {
		name, file string
		args       []string
		want       []string // each "line:path"
	}{
		{"unknown fields", minimal + "ingest:\n  max_batch: 5\nmetrics: {}\n", nil, []string{"8:ingest", "9:"}},
		{"misspelt fields", minimal + "ingest:\n  max_deliverys: 5\nhtp: {listen: x}\n", nil, []string{"8:ingest.max_deliveries", "9:http"}},
		{"bad values", minimal + "ingest:\n  max_batch_delay: 5\n  max_deliveries: many\nhttp:\n  listen: [a, b]\n", nil,
			[]string{"8:ingest.max_batch_delay", "9:ingest.max_deliveries", "11:http.listen"}},
		{"invalid values", minimal + "ingest:\n  max_batch_samples: -3\nlog:\n  level: loud\n", nil,
			[]string{"8:ingest.max_batch_samples", "10:log.level"}},
		{"kinds and validation together", "tenants: t.yaml\npulsar: {url: 'pulsar://x', nack_delay: soon, receiver_queue_size: -1}\nstore: {sqlite: {path: a.db}}\nlog: {format: xml, colour: red}\n", nil,
			[]string{"2:pulsar.nack_delay", "4:log", "2:pulsar.receiver_queue_size", "4:log.format"}},
		{"syntax", "tenants: [\n", nil, []string{"1:"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"1:", "0:tenants", "0:pulsar.url", "0:store"}},
		{"section not a mapping", minimal + "ingest: 5\n", nil, []string{"7:ingest"}},
		{"missing", "log:\n  format: json\n", nil, []string{"0:tenants", "0:pulsar.url", "0:store"}},
		{"both stores", minimal + "  postgres:\n    dsn: postgres://x@y/z\n", nil, []string{"4:store"}},
		{"from a flag", minimal, []string{"-ingest.max_deliveries", "-1"}, []string{"0:ingest.max_deliveries"}},
		{"file and flags together", minimal + "log: {level: loud}\n", []string{"-ingest.drain_timeout", "-1s"}, []string{"7:log.level", "0:ingest.drain_timeout"}},
		{"retry", minimal + "ingest:\n  retry: {initial: -1s, multiplier: 0.5, jitter: 2, max: forever}\n", nil,
			[]string{"8:ingest.retry.max", "8:ingest.retry.initial", "8:ingest.retry.multiplier", "8:ingest.retry.jitter"}},
		{"topics", minimal + "ingest:\n  topic: a/b\n  dead_letter_topic: a/b\n", nil,
			[]string{"8:ingest.topic", "9:ingest.dead_letter_topic", "9:ingest.dead_letter_topic"}},
		{"lists where values go", "tenants: [a]\npulsar: [b]\nstore: {sqlite: {path: x, busy_timeout: [1]}}\n", nil,
			[]string{"1:tenants", "2:pulsar", "3:store.sqlite.busy_timeout"}},
		{"a field given twice", minimal + "tenants: u.yaml\n", nil, []string{"7:tenants"}},
		{"numbers", "tenants: t\npulsar:\n  url: pulsar://x\n  receiver_queue_size: 1.5\nstore: {sqlite: {path: x}}\ningest: {max_batch_samples: 99999999999999999999}\n", nil,
			[]string{"4:pulsar.receiver_queue_size", "6:ingest.max_batch_samples"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file, c.args...)
			var got []string
			for _, fe := range config.List(err) {
				got = append(got, strings.Join([]string{itoa(fe.Line), fe.Path}, ":"))
				if fe.Line > 0 && !strings.HasSuffix(fe.File, "ingestor.yaml") {
					t.Errorf("%v: file %q", fe, fe.File)
				}
				for _, word := range []string{"!!", "unmarshal", "time.Duration", "strconv", "int64", "bits"} {
					if strings.Contains(fe.Msg, word) {
						t.Errorf("%v: names Go's %q", fe, word)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("errors %q (%v), want %q", got, err, c.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte(minimal))
	f.Add([]byte("ingest: {retry: {initial: 1h, multiplier: 3}}\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		_, err := config.DecodeYAML("fuzz.yaml", data, &c)
		for _, fe := range config.List(err) {
			if fe.File != "fuzz.yaml" || fe.Msg == "" {
				t.Fatalf("problem without file or message: %+v", fe)
			}
		}
	})
}
