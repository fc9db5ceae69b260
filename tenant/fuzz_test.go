package tenant

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/config"
)

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{
		"persistent://acme/plant-1/samples",
		"persistent://acme/plant-1/a.b-c_d",
		"persistent://acme/plant-1/../globex",
		"persistent://acme/plant-1/x/y",
		"persistent://acme//x",
		"persistent:///ns/x",
		"non-persistent://acme/ns/x",
		"persistent://ACME/ns/x",
		"persistent://acme/ns/%2e%2e",
		"persistent://acme/ns/x\x00",
		"persistent://public/default/x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tp, err := ParseTopic(name)
		if err != nil {
			if !errors.Is(err, ErrTopic) {
				t.Fatalf("ParseTopic(%q) error %v does not wrap ErrTopic", name, err)
			}
			return
		}
		if tp.String() != name {
			t.Fatalf("ParseTopic(%q) = %+v, which prints as %q", name, tp, tp.String())
		}
		for _, part := range []string{tp.Tenant, tp.Namespace, tp.Local} {
			if part == "" || strings.ContainsAny(part, "/:%\\ \x00") || strings.Contains(part, "..") {
				t.Fatalf("ParseTopic(%q) accepted part %q", name, part)
			}
		}
		if ValidateID(tp.Tenant) != nil {
			t.Fatalf("ParseTopic(%q) accepted tenant %q", name, tp.Tenant)
		}
	})
}

func FuzzTenantTopic(f *testing.F) {
	r, err := Parse("fuzz.yaml", []byte("tenants:\n  - id: acme\n    namespaces: [plant-1, lab]\n"))
	if err != nil {
		f.Fatal(err)
	}
	acme, _ := r.Tenant("acme")
	for _, s := range [][2]string{
		{"plant-1", "samples"}, {"lab", "x"}, {"globex/main", "x"}, {"plant-1", "../x"},
		{"plant-1", "a/b"}, {"plant-1", "persistent://globex/main/x"}, {"plant-2", "x"}, {"plant-1", ".hidden"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ns, local string) {
		name, err := acme.Topic(ns, local)
		if err != nil {
			if !errors.Is(err, ErrTopic) {
				t.Fatalf("Topic(%q, %q) error %v does not wrap ErrTopic", ns, local, err)
			}
			return
		}
		tp, err := acme.CheckTopic(name)
		if err != nil {
			t.Fatalf("Topic(%q, %q) = %q, which CheckTopic refuses: %v", ns, local, name, err)
		}
		if tp.Tenant != "acme" || tp.Namespace != ns || tp.Local != local || (ns != "plant-1" && ns != "lab") {
			t.Fatalf("Topic(%q, %q) = %q escapes to %+v", ns, local, name, tp)
		}
	})
}

func FuzzParseRegistry(f *testing.F) {
	for _, s := range []string{
		"tenants:\n  - id: acme\n    namespaces: [a, b]\n    quotas: {tags: 5}\n",
		"tenants:\n  - id: acme\n    tokens: [{name: x, sha256: 48a7ccb87188fc05c7b79a9427de2b3cf21860f91a2156cefbfc19c00c740a63}]\n",
		"tenants:\n  - {id: Acme, colour: red}\n  - id: acme\n  - id: acme\n",
		"tenants: [",
		"tenants:\n  - id: acme\n    quotas: {writes_per_minute: -1}\n    pulsar: {role: r, token_file: t}\n",
		"- 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *config.FieldError
			if !errors.As(err, &ce) || ce.File != "fuzz.yaml" || ce.Line < 1 {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		for _, id := range r.IDs() {
			tn, err := r.Tenant(id)
			if err != nil || ValidateID(id) != nil {
				t.Fatalf("registry holds invalid tenant %q: %v", id, err)
			}
			for _, ns := range tn.Namespaces() {
				if ValidateNamespace(ns) != nil {
					t.Fatalf("tenant %q holds invalid namespace %q", id, ns)
				}
			}
		}
	})
}
