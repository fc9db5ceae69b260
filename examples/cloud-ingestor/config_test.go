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
	lines, err := parseConfig([]byte(exampleConfig), "example.yaml", &c)
	if err != nil {
		t.Fatal(err)
	}
	l := &loaded{cfg: c.withDefaults(), file: "example.yaml", lines: lines}
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

func TestConfigErrorsNameLineAndField(t *testing.T) {
	for _, c := range []struct {
		name, file string
		args       []string
		want       []string // each "line:field" (line 0: not from the file)
	}{
		{"unknown fields", minimal + "ingest:\n  max_batch: 5\nmetrics: {}\n", nil, []string{"8:ingest.max_batch", "9:metrics"}},
		{"bad values", minimal + "ingest:\n  max_batch_delay: 5\n  max_deliveries: many\nhttp:\n  listen: [a, b]\n", nil,
			[]string{"8:ingest.max_batch_delay", "9:ingest.max_deliveries", "11:http.listen"}},
		{"invalid values", minimal + "ingest:\n  max_batch_samples: -3\nlog:\n  level: loud\n", nil,
			[]string{"8:ingest.max_batch_samples", "10:log.level"}},
		{"syntax", "tenants: [\n", nil, []string{"1:(syntax)"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"1:(document)"}},
		{"section not a mapping", minimal + "ingest: 5\n", nil, []string{"7:ingest"}},
		{"missing", "log:\n  format: json\n", nil, []string{"0:tenants", "0:pulsar.url", "0:store"}},
		{"both stores", minimal + "  postgres:\n    dsn: postgres://x@y/z\n", nil, []string{"4:store"}},
		{"from a flag", minimal, []string{"-ingest.max_deliveries", "-1"}, []string{"0:ingest.max_deliveries"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.file, c.args...)
			var got []string
			for _, e := range flatten(err) {
				var ce *ConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("not a *ConfigError: %v", e)
				}
				got = append(got, strings.Join([]string{itoa(ce.Line), ce.Field}, ":"))
				if ce.Line > 0 && !strings.HasSuffix(ce.File, "ingestor.yaml") {
					t.Errorf("%v: file %q", ce, ce.File)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("errors %q (%v), want %q", got, err, c.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte(minimal))
	f.Add([]byte("ingest: {retry: {initial: 1h, multiplier: 3}}\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		_, err := parseConfig(data, "fuzz.yaml", &c)
		for _, e := range flatten(err) {
			var ce *ConfigError
			if !errors.As(e, &ce) || ce.Field == "" {
				t.Fatalf("error without field: %v", e)
			}
		}
	})
}
