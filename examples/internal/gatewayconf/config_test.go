package gatewayconf

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/config"
)

func TestZeroConfigIsTheEmbeddedDemo(t *testing.T) {
	c := Config{}.WithDefaults()
	if !c.DemoEnabled() || c.Transport.Kind != TransportEmbedded || c.HTTP.Listen != DefaultListen ||
		c.Spool.Dir != "kiln-data/spool" || c.Store.Path != "kiln-data/samples.db" || c.Token != "demo-token" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// problem is one expected problem of a broken file: its line, its YAML
// path and a part of its message.
type problem struct {
	line int
	path string
	msg  string
}

// TestParseReportsEveryProblemOfAFileInOneRun loads broken files, each
// with several mistakes of different kinds (unknown fields, values of the
// wrong kind, bad settings of the gateway and of the libraries it nests),
// and checks that one Parse names them all, each with file, line and
// YAML path, in words without Go type names.
func TestParseReportsEveryProblemOfAFileInOneRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tags.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "gw.yaml")
	for _, tc := range []struct {
		name string
		yaml string
		want []problem
	}{
		{"nine mistakes of three kinds", `id: gw
tenant: Acme
http:
  lsten: 127.0.0.1:80
  pprof: sometimes
groups:
  - name: g
    rate: fast
devices:
  - name: plc1
    driver: s7
    endpoint: 10.0.0.5
    options: {rack: x}
demo: maybe
memory_limit: 1000
writes: {tolerance: -1}
`, []problem{
			{4, "http.listen", `unknown field "lsten"`},
			{5, "http.pprof", `"sometimes" is not true or false`},
			{8, "groups[0].rate", `"fast" is not a duration such as 500ms`},
			{2, "tenant", ""},
			{15, "memory_limit", "at least 16 MiB"},
			{14, "demo", `want auto, on or off, not "maybe"`},
			{13, "devices[0].options.rack", `"x" is not a whole number`},
			{16, "writes.tolerance", "-1 is negative"},
		}},
		{"unknown fields at every depth", `colour: blue
spool:
  dri: x
transport:
  kind: pulsar
  pulsar:
    client: {url: "pulsar://x:6650", tokn: a}
    topic: persistent://demo/plant/samples
    breaker: {failures: 1, open_timeout: 5s}
`, []problem{
			{1, "", `unknown field "colour" (known: id, tenant`},
			{3, "spool.dir", `unknown field "dri"`},
			{7, "transport.pulsar.client.token", `unknown field "tokn"`},
			{9, "transport.pulsar.breaker", `unknown field "open_timeout" (known: failures, open_for)`},
		}},
		{"wrong kinds", `devices: {name: a}
groups:
  - [1, 2]
tag_files: tags.yaml
spool: {segment_bytes: big, max_bytes: [1]}
http: {listen: [a]}
`, []problem{
			{1, "devices", "is a section, want a list"},
			{3, "groups[0]", "is a list, want a section of key: value settings"},
			{4, "tag_files", `is "tags.yaml", want a list`},
			{5, "spool.segment_bytes", `"big" is not a whole number`},
			{5, "spool.max_bytes", "is a list, want a single value"},
			{6, "http.listen", "is a list, want a single value"},
		}},
		{"devices", `devices:
  - name: a
    driver: profibus
    endpoint: x:1
  - name: a
    driver: s7
    endpoint: x:102
    subscribe: true
  - driver: opcua
    endpoint: http://wincc
    publishing_interval: -1s
`, []problem{
			{3, "devices[0].driver", `unknown driver "profibus"`},
			{5, "devices[1].name", `device "a" is declared twice (first as devices[0])`},
			{8, "devices[1].subscribe", "only opcua devices have subscriptions"},
			{9, "devices[2].name", "is required"},
			{10, "devices[2].endpoint", `"http://wincc" is not an address such as opc.tcp://HOST:PORT[/PATH]`},
			{11, "devices[2].publishing_interval", "-1s is negative"},
		}},
		{"device options of both drivers", `devices:
  - name: plc1
    driver: s7
    endpoint: 10.0.0.5
    options:
      rack: 9
      slott: 1
      retry.multiplier: "0.5"
      breaker.open_for: soon
  - name: wincc
    driver: opcua
    endpoint: opc.tcp://wincc:4840
    options: {security_mode: Loud, request_timeout: 5, password: p}
`, []problem{
			{9, "devices[0].options.breaker.open_for", `"soon" is not a duration such as 500ms`},
			{5, "devices[0].options", `unknown option "slott"`},
			{6, "devices[0].options.rack", "9 is not in 0..7"},
			{8, "devices[0].options.retry.multiplier", "0.5 is below 1"},
			{13, "devices[1].options.request_timeout", `"5" is not a duration such as 500ms`},
			{13, "devices[1].options.security_mode", `"Loud" is not None, Sign or SignAndEncrypt`},
			{13, "devices[1].options.password", "is set without a username"},
		}},
		{"groups", `groups:
  - name: fast
    rate: 1ms
    full_refresh: sometimes
  - rate: 1s
`, []problem{
			{3, "groups[0].rate", "1ms is below 10ms"},
			{4, "groups[0].full_refresh", `"sometimes" is not a positive duration or off`},
			{5, "groups[1].name", "is required"},
		}},
		{"spool, checked with the directory the gateway will use", `spool:
  segment_bytes: 1048576
  max_bytes: 1500000
  full: drop-newest
  sync: never
  sync_interval: -1s
`, []problem{
			{3, "spool.max_bytes", "is less than twice segment_bytes"},
			{1, "spool.max_record_bytes", "the default 1048548 is more than half of max_bytes (1500000)"},
			{4, "spool.full", `"drop-newest" is not block or drop-oldest`},
			{5, "spool.sync", `"never" is not always, batch or interval`},
			{6, "spool.sync_interval", "-1s is negative"},
		}},
		{"pulsar without url or topic", "transport:\n  kind: pulsar\n", []problem{
			{1, "transport.pulsar.client.url", "is required"},
			{1, "transport.pulsar.topic", "is required"},
		}},
		{"pulsar settings", `transport:
  kind: pulsar
  command_topic: commands
  audit_topic: persistent://demo/plant/samples
  pulsar:
    client: {url: "pulsar://x:6650", keep_alive: -1s, retry: {multiplier: 0.5}}
    topic: persistent://demo/plant/samples
    compression: gzip
    batch_max_messages: -1
    max_pending: -1
`, []problem{
			{6, "transport.pulsar.client.keep_alive", "-1s is negative"},
			{6, "transport.pulsar.client.retry.multiplier", "0.5 is below 1"},
			{8, "transport.pulsar.compression", `"gzip" is not lz4, zstd or none`},
			{9, "transport.pulsar.batch_max_messages", "-1 is negative"},
			{10, "transport.pulsar.max_pending", "-1 is negative"},
			{3, "transport.command_topic", ""},
			{4, "transport.audit_topic", "must differ from the data topic"},
		}},
		{"forwarder", `transport:
  kind: pulsar
  pulsar: {client: {url: "pulsar://x:6650"}, topic: persistent://demo/plant/samples}
  forward:
    batch_size: 100
    max_in_flight: 10
    confirm_timeout: -1s
    retry: {initial: -1s, jitter: 2}
    breaker: {failures: -1}
`, []problem{
			{6, "transport.forward.max_in_flight", "10 is below batch_size (100)"},
			{7, "transport.forward.confirm_timeout", "-1s is negative"},
			{8, "transport.forward.retry.initial", "-1s is negative"},
			{8, "transport.forward.retry.jitter", "2 is above 1"},
			{9, "transport.forward.breaker.failures", "-1 is negative"},
		}},
		{"transport kind and store", `transport: {kind: kafka}
store: {retention: -1h, path: [a]}
`, []problem{
			{2, "store.path", "is a list, want a single value"},
			{1, "transport.kind", `want embedded or pulsar, not "kafka"`},
			{2, "store.retention", "-1h0m0s is negative"},
		}},
		{"http and writes", `http: {listen: "8080"}
writes: {command_max_age: -1m, no_verify: 3}
`, []problem{
			{2, "writes.no_verify", `"3" is not true or false`},
			{2, "writes.command_max_age", "-1m0s is negative"},
			{1, "http.listen", `"8080" is not a host:port address such as 127.0.0.1:8080`},
		}},
		{"tag files", `tag_files: [tags.yaml, missing.csv, "", /nowhere/tags.csv]
`, []problem{
			{1, "tag_files[2]", "is an empty file name"},
			{1, "tag_files[1]", `"missing.csv" is not in ` + dir + ` (a relative name is resolved against the configuration file's directory)`},
			{1, "tag_files[3]", `"/nowhere/tags.csv" is not there`},
		}},
		{"a field given twice", "id: a\nid: b\nmemory_limit: -2\n", []problem{
			{2, "id", "given twice (first at line 1)"},
			{3, "memory_limit", "want 0 (automatic), -1 (off)"},
		}},
		{"numbers out of range", `memory_limit: 99999999999999999999
spool: {max_record_bytes: 1.5}
writes: {tolerance: lots}
`, []problem{
			{1, "memory_limit", "is out of range"},
			{2, "spool.max_record_bytes", `"1.5" is not a whole number`},
			{3, "writes.tolerance", `"lots" is not a number`},
		}},
		{"not YAML at all", "id: a\nhttp: [\n", []problem{
			{2, "", "YAML syntax"},
		}},
		{"not a mapping", "- a\n- b\n", []problem{
			{1, "", "is a list, want a section of key: value settings"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(file, []byte(tc.yaml))
			got := config.List(err)
			for i, w := range tc.want {
				if i >= len(got) {
					t.Errorf("missing %d: %s: %q", w.line, w.path, w.msg)
					continue
				}
				g := got[i]
				if g.File != file || g.Line != w.line || g.Path != w.path || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("problem %d = %s\n   want line %d, path %q, message with %q", i, g, w.line, w.path, w.msg)
				}
			}
			for _, g := range got[min(len(got), len(tc.want)):] {
				t.Errorf("unexpected problem %s", g)
			}
			for _, g := range got {
				for _, word := range []string{"!!", "unmarshal", "time.Duration", "strconv", "int64", "struct", "not found in type"} {
					if strings.Contains(g.Msg, word) {
						t.Errorf("%s: names Go's %q", g, word)
					}
				}
			}
		})
	}
}

func TestParseFullFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tags.csv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "gw.yaml"), []byte(`
id: line1-gw
tenant: acme
token: s3cret
devices:
  - {name: wincc, driver: opcua, endpoint: "opc.tcp://10.0.0.9:4840", subscribe: true, publishing_interval: 250ms}
groups:
  - {name: fast, rate: 100ms, full_refresh: "off"}
tag_files: [tags.csv]
transport:
  kind: pulsar
  pulsar:
    client: {url: "pulsar://cloud:6650"}
    topic: persistent://acme/plant/samples
`))
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if c.DemoEnabled() || c.TagFiles[0] != filepath.Join(dir, "tags.csv") || c.Devices[0].PublishingInterval != 250*time.Millisecond ||
		c.Transport.CommandTopic != "persistent://acme/plant/commands" || c.Transport.AuditTopic != "persistent://acme/plant/audit" || c.Transport.Pulsar.ProducerName != "line1-gw" {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestFlagsOverrideTheFile(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := NewFlags(fs)
	if err := fs.Parse([]string{"-listen", "127.0.0.1:0", "-tenant", "acme", "-data", "/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	c := Config{Tenant: "plant", ID: "gw"}
	if err := f.Apply(&c); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:0" || c.Tenant != "acme" || c.DataDir != "/tmp/x" || c.ID != "gw" {
		t.Fatalf("after flags: %+v", c)
	}
	if err := fs.Parse([]string{"-transport", "carrier-pigeon"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(&c); err == nil || !strings.Contains(err.Error(), "transport.kind") {
		t.Fatalf("bad flag value: %v", err)
	}
}

// TestReferenceDocumentsEveryField keeps -h complete: every yaml field of
// Config, nested ones included, appears in the reference text.
func TestReferenceDocumentsEveryField(t *testing.T) {
	ref := Reference()
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeOf(time.Time{}) {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(ref, name+":") {
				t.Errorf("reference lacks %s%s", path, name)
			}
			walk(f.Type, path+name+".")
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tags.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(filepath.Join(dir, "reference.yaml"), []byte(ref)); err != nil {
		t.Fatalf("the reference itself does not parse: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Reference()))
	f.Add([]byte("devices: [{name: a, driver: s7, endpoint: 'x:1'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("f.yaml", data) // must not panic
	})
}

// TestHASectionReportsEveryProblemWithItsLine: the ha section is
// validated by package ha, under the ha prefix, every problem at once and
// each with its line; the lease's device must be a configured one.
func TestHASectionReportsEveryProblemWithItsLine(t *testing.T) {
	yaml := "devices:\n  - {name: plc1, driver: s7, endpoint: x:102}\n" +
		"ha:\n  preferred_role: leader\n  peer: nowhere\n  lease:\n    device: plc2\n    holder: DB100.DBD0\n    epoch: DB100.DBD4\n    counter: DB100.DBD8\n"
	_, err := Parse("gw.yaml", []byte(yaml))
	for _, want := range []string{"gw.yaml:3: ha.node_id: is required", "gw.yaml:4: ha.preferred_role:", "gw.yaml:7: ha.lease.device: \"plc2\" is not one of the devices", "gw.yaml:5: ha.peer:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	ok := "devices:\n  - {name: plc1, driver: s7, endpoint: x:102}\n" +
		"ha: {node_id: 1, lease: {device: plc1, holder: DB100.DBD0, epoch: DB100.DBD4, counter: DB100.DBD8}}\n"
	if _, err := Parse("gw.yaml", []byte(ok)); err != nil {
		t.Errorf("a minimal ha section: %v", err)
	}
}
