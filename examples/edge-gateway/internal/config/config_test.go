package config

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
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

func TestParseNamesFileLineField(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown field", "id: gw\nspool:\n  dri: x\n", "gw.yaml:3: dri: field dri not found"},
		{"bad driver", "devices:\n  - name: a\n    driver: profibus\n    endpoint: x:1\n", "gw.yaml:3: devices[0].driver: unknown driver \"profibus\""},
		{"bad tenant", "tenant: Acme\n", "gw.yaml:1: tenant: "},
		{"bad duration", "groups:\n  - name: g\n    rate: fast\n", "gw.yaml:3: "},
		{"rate too fast", "groups:\n  - name: g\n    rate: 1ms\n", "gw.yaml:3: groups[0].rate: 1ms is below 10ms"},
		{"pulsar without url", "transport:\n  kind: pulsar\n", "gw.yaml:1: transport.pulsar.client.url: missing"},
		{"bad topic", "transport:\n  kind: pulsar\n  pulsar:\n    client: {url: pulsar://x:6650}\n    topic: samples\n", "gw.yaml:5: transport.pulsar.topic:"},
		{"spool cap", "spool:\n  segment_bytes: 1048576\n  max_bytes: 1500000\n", "gw.yaml:3: spool.max_bytes:"},
		{"subscribe on s7", "devices:\n  - {name: a, driver: s7, endpoint: x:102, subscribe: true}\n", "gw.yaml:2: devices[0].subscribe: only opcua"},
		{"transport kind", "transport: {kind: kafka}\n", "gw.yaml:1: transport.kind: want embedded or pulsar"},
		{"listen", "http: {listen: 8080}\n", "gw.yaml:1: http.listen:"},
		{"memory limit", "id: gw\nmemory_limit: 1000\n", "gw.yaml:2: memory_limit: want 0 (automatic), -1 (off) or at least 16 MiB"},
		{"memory limit negative", "id: gw\nmemory_limit: -2\n", "gw.yaml:2: memory_limit: want 0 (automatic), -1 (off)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("gw.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseFullFile(t *testing.T) {
	c, err := Parse("/etc/kiln/gw.yaml", []byte(`
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
	if c.DemoEnabled() || c.TagFiles[0] != "/etc/kiln/tags.csv" || c.Devices[0].PublishingInterval != 250*time.Millisecond ||
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
	if _, err := Parse("reference.yaml", []byte(ref)); err != nil {
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
