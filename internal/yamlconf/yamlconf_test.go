package yamlconf

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestFormatLeavesOutEmptyParts(t *testing.T) {
	for _, tc := range []struct {
		file  string
		line  int
		field string
		want  string
	}{
		{"a.yaml", 3, "x.y", "a.yaml:3: x.y: bad"},
		{"a.yaml", 0, "x.y", "a.yaml: x.y: bad"},
		{"a.yaml", 3, "", "a.yaml:3: bad"},
		{"", 3, "x.y", "x.y: bad"},
		{"", 0, "", "bad"},
	} {
		if got := Format(tc.file, tc.line, tc.field, "bad"); got != tc.want {
			t.Errorf("Format(%q, %d, %q) = %q, want %q", tc.file, tc.line, tc.field, got, tc.want)
		}
	}
}

func TestCutLineTakesOnlyALeadingLineNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		line int
		rest string
		ok   bool
	}{
		{"line 12: did not find expected key", 12, "did not find expected key", true},
		{"line 1: x", 1, "x", true},
		{"line : x", 0, "line : x", false},
		{"line 3:x", 0, "line 3:x", false},
		{"line 1234567890123: x", 0, "line 1234567890123: x", false},
		{"column 3: x", 0, "column 3: x", false},
	} {
		line, rest, ok := CutLine(tc.in)
		if line != tc.line || rest != tc.rest || ok != tc.ok {
			t.Errorf("CutLine(%q) = %d, %q, %v; want %d, %q, %v", tc.in, line, rest, ok, tc.line, tc.rest, tc.ok)
		}
	}
}

func TestSplitOfRealYAMLErrors(t *testing.T) {
	var v struct{ A int }
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &v)
	if err == nil {
		t.Fatal("want a syntax error")
	}
	line, msg := Split(err)
	if line == 0 || msg == "" || msg[:4] == "yaml" {
		t.Errorf("Split(%q) = %d, %q", err, line, msg)
	}
	err = yaml.Unmarshal([]byte("\n\na: x\n"), &v)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("want a *yaml.TypeError, got %v", err)
	}
	if line, msg := Split(err); line != 3 || msg != "cannot unmarshal !!str `x` into int" {
		t.Errorf("Split(%q) = %d, %q", err, line, msg)
	}
	if line, msg := Split(errors.New("yaml: something odd")); line != 0 || msg != "something odd" {
		t.Errorf("Split without a line = %d, %q", line, msg)
	}
}

const doc = `devices:
  - name: a
    driver: s7
  - name: b
    driver: opcua
    options:
      x: 1
groups: []
`

func parse(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestWalkFindsFieldsAndTheirNearestLine(t *testing.T) {
	root := parse(t, doc)
	for _, tc := range []struct {
		path string
		line int
		ok   bool
	}{
		{"devices", 1, true},
		{"devices[1]", 4, true},
		{"devices[1].driver", 5, true},
		{"devices[1].options.x", 7, true},
		{"devices[1].endpoint", 4, false}, // the item's line
		{"devices[5].name", 1, false},     // the list's key
		{"groups[0]", 8, false},
		{"nothing", 1, false},
	} {
		n, line, ok := Walk(root, tc.path)
		if line != tc.line || ok != tc.ok || n == nil {
			t.Errorf("Walk(%q) = %v, %d, %v; want line %d, %v", tc.path, n, line, ok, tc.line, tc.ok)
		}
		if got := NodeLine(root, tc.path); got != tc.line {
			t.Errorf("NodeLine(%q) = %d, want %d", tc.path, got, tc.line)
		}
		if got := NodeAt(root, tc.path); (got != nil) != tc.ok {
			t.Errorf("NodeAt(%q) = %v, want found %v", tc.path, got, tc.ok)
		}
	}
	if v := NodeAt(root, "devices[0].driver"); v.Value != "s7" {
		t.Errorf("NodeAt value = %q", v.Value)
	}
}

func TestIndexRecordsEveryKeyAndItem(t *testing.T) {
	lines := map[string]int{}
	Index(parse(t, doc).Content[0], "", lines)
	want := map[string]int{
		"devices": 1, "devices[0]": 2, "devices[0].name": 2, "devices[0].driver": 3,
		"devices[1]": 4, "devices[1].name": 4, "devices[1].driver": 5,
		"devices[1].options": 6, "devices[1].options.x": 7, "groups": 8,
	}
	if len(lines) != len(want) {
		t.Errorf("Index = %v, want %v", lines, want)
	}
	for k, v := range want {
		if lines[k] != v {
			t.Errorf("Index[%q] = %d, want %d", k, lines[k], v)
		}
	}
}

func TestNearestFallsBackToTheClosestParent(t *testing.T) {
	lines := map[string]int{}
	Index(parse(t, doc).Content[0], "", lines)
	for path, want := range map[string]int{
		"devices[1].options.x":      7,
		"devices[1].options.y":      6,
		"devices[1].endpoint":       4,
		"devices[7].name":           1,
		"store.retention":           0,
		"":                          0,
		"devices[0].driver.unknown": 3,
	} {
		if got := Nearest(lines, path); got != want {
			t.Errorf("Nearest(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestResolveFollowsAliases(t *testing.T) {
	root := parse(t, "a: &x {k: 1}\nb: *x\n").Content[0]
	b := root.Content[3]
	if b.Kind != yaml.AliasNode {
		t.Fatalf("b is %v, want an alias", b.Kind)
	}
	if r := Resolve(b); r.Kind != yaml.MappingNode || r != root.Content[1] {
		t.Errorf("Resolve(b) = %v", r)
	}
	if r := Resolve(root); r != root {
		t.Error("Resolve changed a non-alias")
	}
}

func FuzzWalk(f *testing.F) {
	f.Add([]byte(doc), "devices[1].options.x")
	f.Add([]byte("a: [1, {b: 2}]"), "a[1].b")
	f.Add([]byte("- 1\n- 2"), "[1]")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		var n yaml.Node
		if yaml.Unmarshal(data, &n) != nil || n.Kind == 0 {
			return
		}
		got, line, ok := Walk(&n, path)
		if got == nil {
			t.Fatal("Walk returned no node")
		}
		if ok && NodeAt(&n, path) != got {
			t.Fatal("NodeAt disagrees with Walk")
		}
		if line < 0 {
			t.Fatalf("negative line %d", line)
		}
	})
}

func FuzzCutLine(f *testing.F) {
	f.Add("line 3: x")
	f.Add("line 99999999999: y")
	f.Fuzz(func(t *testing.T, msg string) {
		line, rest, ok := CutLine(msg)
		if !ok && (line != 0 || rest != msg) {
			t.Fatalf("not ok but %d, %q", line, rest)
		}
		if ok && (line < 0 || len(rest) >= len(msg)) {
			t.Fatalf("ok with %d, %q", line, rest)
		}
	})
}
