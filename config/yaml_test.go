package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type httpSection struct {
	Listen string `yaml:"listen"`
	Pprof  bool   `yaml:"pprof"`
}

type group struct {
	Name string        `yaml:"name"`
	Rate time.Duration `yaml:"rate"`
}

type service struct {
	ID      string            `yaml:"id"`
	HTTP    httpSection       `yaml:"http"`
	Groups  []group           `yaml:"groups"`
	Options map[string]string `yaml:"options"`
	Limit   *int              `yaml:"limit"`
	Retry   retry             `yaml:"retry"`
}

func (s service) Validate() error {
	var p Problems
	if s.HTTP.Listen == "" {
		p.Add("http.listen", "is required")
	}
	for i, g := range s.Groups {
		if g.Name == "" {
			p.Add(fmt.Sprintf("groups[%d].name", i), "is required")
		}
		if g.Rate == 0 {
			p.Add(fmt.Sprintf("groups[%d].rate", i), "is required")
		}
	}
	if s.Retry.Multiplier != 0 && s.Retry.Multiplier < 1 {
		p.Add("retry.multiplier", "%v is below 1", s.Retry.Multiplier)
	}
	return p.Err()
}

func load(t *testing.T, text string) (service, []string) {
	t.Helper()
	var s service
	doc, err := DecodeYAML("gw.yaml", []byte(text), &s)
	err = errors.Join(err, doc.Locate(s.Validate()))
	var got []string
	for _, fe := range List(err) {
		got = append(got, fe.Error())
	}
	return s, got
}

func TestDecodeYAMLReportsEveryKindOfProblemInOnePass(t *testing.T) {
	_, got := load(t, `id: gw1
http:
  lsten: 127.0.0.1:80
  pprof: sometimes
groups:
  - name: fast
    rate: fast
  - rate: 1s
  - [1, 2]
options: {rack: 0, slot: [1]}
limit: many
retry: {multiplier: 0.5, jitter: 1}
colour: blue
`)
	want := []string{
		`gw.yaml:3: http.listen: unknown field "lsten"`,
		`gw.yaml:4: http.pprof: "sometimes" is not true or false`,
		`gw.yaml:7: groups[0].rate: "fast" is not a duration such as 500ms`,
		`gw.yaml:9: groups[2]: is a list, want a section of key: value settings`,
		`gw.yaml:10: options.slot: is a list, want a single value`,
		`gw.yaml:11: limit: "many" is not a whole number`,
		`gw.yaml:12: retry: unknown field "jitter" (known: initial, multiplier)`,
		`gw.yaml:13: unknown field "colour" (known: id, http, groups, options, limit, retry)`,
		`gw.yaml:8: groups[1].name: is required`,
		`gw.yaml:12: retry.multiplier: 0.5 is below 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeYAMLDecodesWhatIsRight(t *testing.T) {
	s, got := load(t, "http: {listen: ':80'}\ngroups: [{name: a, rate: 2s}]\noptions: {rack: 0}\nlimit: 7\n")
	if len(got) != 0 {
		t.Fatal(got)
	}
	if s.HTTP.Listen != ":80" || s.Groups[0].Rate != 2*time.Second || s.Options["rack"] != "0" || *s.Limit != 7 {
		t.Errorf("decoded %+v", s)
	}
}

func TestDecodeYAMLSyntaxErrorIsLocated(t *testing.T) {
	_, got := load(t, "id: a\nhttp: [\n")
	if len(got) != 1 || !strings.HasPrefix(got[0], "gw.yaml:") || !strings.Contains(got[0], "YAML syntax") {
		t.Errorf("got %q", got)
	}
}

func TestDecodeYAMLEmptyFileIsTheDefaults(t *testing.T) {
	var s service
	if _, err := DecodeYAML("e.yaml", nil, &s); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodeYAML(f *testing.F) {
	f.Add([]byte("http: {listen: x}\ngroups: [{name: a, rate: 1s}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\ngroups: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s service
		doc, err := DecodeYAML("f.yaml", data, &s)
		for _, fe := range List(errors.Join(err, doc.Locate(s.Validate()))) {
			if fe.File != "f.yaml" || fe.Msg == "" {
				t.Fatalf("problem without file or message: %+v", fe)
			}
		}
	})
}
