package tenant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m),
		// The client's send-timeout goroutine outlives Close by up to
		// SendTimeout (pulsar-client-go v0.19.0).
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"))
}

func mustParse(t *testing.T, yml string, opts ...Option) *Registry {
	t.Helper()
	r, err := Parse("tenants.yaml", []byte(yml), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustTenant(t *testing.T, r *Registry, id string) *Tenant {
	t.Helper()
	tn, err := r.Tenant(id)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestValidateID(t *testing.T) {
	good := []string{"acme", "a", "plant-7", "x1-2-3", strings.Repeat("a", 63)}
	bad := map[string]string{
		"":                      "empty",
		"Acme":                  "lowercase letter",
		"1acme":                 "lowercase letter",
		"-acme":                 "lowercase letter",
		"acme-":                 "end with a dash",
		"ac--me":                "double dash",
		"ac_me":                 "character '_'",
		"ac.me":                 "character '.'",
		"ac/me":                 "character '/'",
		"acme:1":                "character ':'",
		"acmé":                  "character",
		"public":                "reserved",
		"pulsar":                "reserved",
		strings.Repeat("a", 64): "longer than 63",
	}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for id, want := range bad {
		err := ValidateID(id)
		if !errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID saying %q", id, err, want)
		}
	}
}

func TestLoadExampleRegistry(t *testing.T) {
	r, err := Load("testdata/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.IDs()) != "[acme globex]" {
		t.Fatalf("ids = %v", r.IDs())
	}
	acme := mustTenant(t, r, "acme")
	if acme.Name() != "ACME Corp" || fmt.Sprint(acme.Namespaces()) != "[plant-1 plant-2]" ||
		acme.Quotas() != (Quotas{SamplesPerSecond: 1000, Tags: 100, WritesPerMinute: 60}) || acme.PulsarRole() != "acme-edge" {
		t.Fatalf("acme = %+v", acme)
	}
	tok, err := acme.PulsarToken()
	if err != nil || tok != "pulsar-token-for-acme" {
		t.Fatalf("PulsarToken = %q, %v", tok, err)
	}
	globex := mustTenant(t, r, "globex")
	if globex.Name() != "globex" || globex.PulsarRole() != "globex" {
		t.Fatalf("globex defaults: name %q role %q", globex.Name(), globex.PulsarRole())
	}
	if _, err := globex.PulsarToken(); err == nil {
		t.Fatal("PulsarToken without a token file succeeded")
	}
	if _, err := r.Tenant("initech"); !errors.Is(err, ErrUnknownTenant) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestRegistryErrorsNameFileLineAndField(t *testing.T) {
	yml := `tenants:
  - id: acme
    namespaces: [plant-1, Plant2, plant-1]
    tokens:
      - name: ingest
        sha256: abc
      - sha256: 48a7ccb87188fc05c7b79a9427de2b3cf21860f91a2156cefbfc19c00c740a63
    quotas:
      tags: -1
      samples_per_sec: 5
  - id: Globex
    colour: blue
  - id: acme
  - name: no id
  - id: initech
    quotas:
      writes_per_minute: lots
  - id: hooli
    tokens:
      - name: dup
        sha256: 48a7ccb87188fc05c7b79a9427de2b3cf21860f91a2156cefbfc19c00c740a63
      - name: dup
        sha256: 48A7CCB87188FC05C7B79A9427DE2B3CF21860F91A2156CEFBFC19C00C740A63
extra: 1
`
	_, err := Parse("tenants.yaml", []byte(yml))
	if err == nil {
		t.Fatal("broken registry parsed")
	}
	want := []string{
		`tenants.yaml:3: tenants[0].namespaces[1]: namespace "Plant2": must start with a lowercase letter`,
		`tenants.yaml:3: tenants[0].namespaces[2]: duplicate namespace "plant-1"`,
		`tenants.yaml:6: tenants[0].tokens[0].sha256: want 64 hex digits (the SHA-256 of the token), got 3 characters`,
		`tenants.yaml:7: tenants[0].tokens[1].name: missing`,
		`tenants.yaml:9: tenants[0].quotas.tags: negative`,
		`tenants.yaml:10: tenants[0].quotas.samples_per_sec: unknown field`,
		`tenants.yaml:11: tenants[1].id: tenant: invalid tenant id "Globex": must start with a lowercase letter`,
		`tenants.yaml:12: tenants[1].colour: unknown field`,
		`tenants.yaml:14: tenants[3].id: missing`,
		`tenants.yaml:17: tenants[4].quotas: line 17: cannot unmarshal !!str ` + "`lots`" + ` into float64`,
		`tenants.yaml:21: tenants[5].tokens[0].sha256: the same token is already registered (acme/)`,
		`tenants.yaml:22: tenants[5].tokens[1].name: duplicate token name "dup"`,
		`tenants.yaml:23: tenants[5].tokens[1].sha256: the same token is already registered (acme/)`,
		`tenants.yaml:24: extra: unknown field`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q", w)
		}
	}
	var ce *config.FieldError
	if !errors.As(err, &ce) || ce.File != "tenants.yaml" {
		t.Errorf("errors.As(*config.FieldError) = %v", ce)
	}
	if t.Failed() {
		t.Logf("got:\n%s", got)
	}
}

func TestRegistryDuplicateIDAndSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		"tenants:\n  - id: acme\n  - id: acme\n":       "tenants.yaml:3: tenants[1].id: duplicate tenant id \"acme\"",
		"tenants:\n  - id: acme\n    namespaces: [a\n": "tenants.yaml:",
		"":                  "tenants.yaml:1: empty registry",
		"tenants: 5\n":      "tenants.yaml:1: tenants: want a list",
		"- id: acme\n":      "tenants.yaml:1: want a mapping",
		"tenants:\n  - 5\n": "tenants.yaml:2: tenants[0]: want a mapping",
		"tenants:\n  - id: acme\n    quotas: [1]\n":      "tenants.yaml:3: tenants[0].quotas: line 3: cannot unmarshal",
		"tenants:\n  - id: acme\n    namespaces: {}\n":   "tenants.yaml:3: tenants[0].namespaces",
		"tenants:\n  - id: acme\n    pulsar: {x: 1}\n":   "tenants.yaml:3: tenants[0].pulsar.x: unknown field",
		"tenants:\n  - id: acme\n    tokens: [{a: b}]\n": "tenants.yaml:3: tenants[0].tokens[0].a: unknown field",
	}
	for yml, want := range cases {
		_, err := Parse("tenants.yaml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", yml, err, want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	tokA, hashA, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tokB, hashB, _ := NewToken()
	if !strings.HasPrefix(tokA, TokenPrefix) || HashToken(tokA) != hashA || tokA == tokB {
		t.Fatalf("NewToken gave %q %q", tokA, hashA)
	}
	r := mustParse(t, fmt.Sprintf(`tenants:
  - id: acme
    tokens: [{name: api, sha256: %s}]
  - id: globex
    tokens: [{name: ui, sha256: %s}]
`, hashA, hashB))
	for tok, want := range map[string]string{tokA: "acme/api", tokB: "globex/ui"} {
		tn, name, err := r.Authenticate(tok)
		if err != nil || tn.ID()+"/"+name != want {
			t.Errorf("Authenticate = %v %q %v, want %s", tn, name, err, want)
		}
	}
	for _, tok := range []string{"", "kiln_nope", hashA, tokA + " "} {
		if tn, _, err := r.Authenticate(tok); !errors.Is(err, ErrUnauthorized) || tn != nil {
			t.Errorf("Authenticate(%q) = %v, %v; want ErrUnauthorized", tok, tn, err)
		}
	}
}

func TestMiddlewarePutsTenantInContext(t *testing.T) {
	tok, hash, _ := NewToken()
	r := mustParse(t, "tenants:\n  - id: acme\n    tokens: [{name: api, sha256: "+hash+"}]\n")
	srv := httptest.NewServer(r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tn, ok := FromContext(req.Context())
		if !ok {
			http.Error(w, "no tenant", 500)
			return
		}
		fmt.Fprint(w, tn.ID())
	})))
	defer srv.Close()
	get := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("Bearer " + tok); code != 200 || body != "acme" {
		t.Errorf("valid token: %d %q", code, body)
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic " + tok, tok} {
		if code, _ := get(auth); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, code)
		}
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found a tenant in an empty context")
	}
}

func TestQuotas(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := mustParse(t, `tenants:
  - id: acme
    quotas: {samples_per_second: 100, writes_per_minute: 3}
  - id: free
`, WithClock(clk))
	acme := mustTenant(t, r, "acme")
	var qe *QuotaError

	if err := acme.AllowWrite(60); err != nil {
		t.Fatal(err)
	}
	// 40 samples left in the bucket: 50 must wait 100ms for 10 more.
	err := acme.AllowWrite(50)
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuotaExceeded) || qe.Quota != "samples_per_second" || qe.RetryAfter != 100*time.Millisecond {
		t.Fatalf("over the samples rate: %v", err)
	}
	// The refused call took nothing: the write it would have used is still there.
	if err := acme.AllowWrite(40); err != nil {
		t.Fatalf("within quota after a refusal: %v", err)
	}
	// Three writes per minute: the fourth waits 20s.
	if err := acme.AllowWrite(0); err != nil {
		t.Fatalf("third write: %v", err)
	}
	err = acme.AllowWrite(0)
	if !errors.As(err, &qe) || qe.Quota != "writes_per_minute" || qe.RetryAfter != 20*time.Second {
		t.Fatalf("fourth write in a minute: %v", err)
	}
	// Larger than the burst: never passes, and says so.
	clk.Advance(time.Minute)
	err = acme.AllowWrite(101)
	if !errors.As(err, &qe) || qe.RetryAfter != 0 || !strings.Contains(err.Error(), "retrying will not help") {
		t.Fatalf("batch over the burst: %v", err)
	}
	if err := acme.AllowWrite(100); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
	free := mustTenant(t, r, "free")
	for i := 0; i < 1000; i++ {
		if err := free.AllowWrite(1_000_000); err != nil {
			t.Fatalf("a tenant without quotas was refused: %v", err)
		}
	}
}

// recorder is a transport.Publisher and Subscriber that records nothing
// but its topic; the tests check which names the factories are asked for.
type recorder struct{ topic string }

func (r *recorder) Publish(context.Context, []transport.Message, func(int, error)) error { return nil }
func (r *recorder) Receive(ctx context.Context) (transport.Delivery, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (r *recorder) Close() error { return nil }

func TestTransportOpensOnlyTheTenantsTopics(t *testing.T) {
	r := mustParse(t, "tenants:\n  - id: acme\n    namespaces: [plant-1]\n  - id: globex\n    namespaces: [main]\n")
	acme := mustTenant(t, r, "acme")
	var asked []string
	pub := func(_ context.Context, topic string) (transport.Publisher, error) {
		asked = append(asked, topic)
		return &recorder{topic}, nil
	}
	sub := func(_ context.Context, topic string) (transport.Subscriber, error) {
		asked = append(asked, topic)
		return &recorder{topic}, nil
	}
	x := NewTransport(acme, pub, sub)
	ctx := context.Background()
	p, err := x.Publisher(ctx, "plant-1", "samples")
	if err != nil || p.(*recorder).topic != "persistent://acme/plant-1/samples" {
		t.Fatalf("Publisher: %v, %v", p, err)
	}
	s, err := x.Subscriber(ctx, "plant-1", "commands.v1")
	if err != nil || s.(*recorder).topic != "persistent://acme/plant-1/commands.v1" {
		t.Fatalf("Subscriber: %v, %v", s, err)
	}
	escapes := [][2]string{
		{"main", "samples"},        // globex's namespace
		{"globex/main", "samples"}, // another tenant through the namespace
		{"plant-1", "../x"},        // relative path
		{"plant-1", "a/b"},         // extra level
		{"plant-1", "persistent://globex/main/samples"},
		{"plant-1", "x%2Fy"},       // escaped slash
		{"plant-1", ""},            // empty
		{"plant-1", "samples\x00"}, // NUL
		{"", "samples"},
	}
	for _, e := range escapes {
		if _, err := x.Publisher(ctx, e[0], e[1]); !errors.Is(err, ErrTopic) {
			t.Errorf("Publisher(%q, %q) = %v, want ErrTopic", e[0], e[1], err)
		}
		if _, err := x.Subscriber(ctx, e[0], e[1]); !errors.Is(err, ErrTopic) {
			t.Errorf("Subscriber(%q, %q) = %v, want ErrTopic", e[0], e[1], err)
		}
	}
	if len(asked) != 2 {
		t.Fatalf("factories were asked for %v; refused names must never reach them", asked)
	}
	if _, err := NewTransport(acme, nil, nil).Publisher(ctx, "plant-1", "x"); !errors.Is(err, ErrNoFactory) {
		t.Fatalf("no publisher factory: %v", err)
	}
}

func TestCheckTopic(t *testing.T) {
	r := mustParse(t, "tenants:\n  - id: acme\n    namespaces: [plant-1]\n")
	acme := mustTenant(t, r, "acme")
	if tp, err := acme.CheckTopic("persistent://acme/plant-1/samples"); err != nil || tp.Local != "samples" {
		t.Fatalf("own topic: %v, %v", tp, err)
	}
	for _, name := range []string{
		"persistent://globex/plant-1/samples",
		"persistent://acme/plant-2/samples",
		"non-persistent://acme/plant-1/samples",
		"persistent://acme/plant-1/samples/extra",
		"persistent://acme/plant-1",
		"persistent://acme//samples",
		"acme/plant-1/samples",
		"persistent://acme/plant-1/..",
	} {
		if _, err := acme.CheckTopic(name); !errors.Is(err, ErrTopic) {
			t.Errorf("CheckTopic(%q) = %v, want ErrTopic", name, err)
		}
	}
	if ns, err := acme.PulsarNamespace("plant-1"); err != nil || ns != "acme/plant-1" {
		t.Errorf("PulsarNamespace = %q, %v", ns, err)
	}
	if _, err := acme.PulsarNamespace("plant-2"); !errors.Is(err, ErrTopic) {
		t.Errorf("PulsarNamespace outside the whitelist: %v", err)
	}
}

func TestPulsarTokenIsReadOnEveryCall(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.token"), []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(reg, []byte("tenants:\n  - id: acme\n    pulsar: {token_file: acme.token}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(reg)
	if err != nil {
		t.Fatal(err)
	}
	acme := mustTenant(t, r, "acme")
	if tok, err := acme.PulsarToken(); err != nil || tok != "first" {
		t.Fatalf("PulsarToken = %q, %v", tok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme.token"), []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := acme.PulsarToken(); err != nil || tok != "second" {
		t.Fatalf("after rotation PulsarToken = %q, %v", tok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme.token"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.PulsarToken(); err == nil {
		t.Fatal("empty token file accepted")
	}
}
