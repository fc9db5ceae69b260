package tenant

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// Quotas limit what a tenant may do. Zero means unlimited.
type Quotas struct {
	// SamplesPerSecond is the sustained rate of samples written; a batch
	// may use up to one second's worth at once.
	SamplesPerSecond float64 `yaml:"samples_per_second"`
	// Tags caps the number of distinct tags with stored samples.
	Tags int `yaml:"tags"`
	// WritesPerMinute is the sustained rate of write calls; up to one
	// minute's worth may come at once.
	WritesPerMinute float64 `yaml:"writes_per_minute"`
}

// TokenConfig is one API token of a tenant, stored as its hash.
type TokenConfig struct {
	// Name says what the token is for ("ingest", "dashboard").
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the token (see HashToken, NewToken).
	SHA256 string `yaml:"sha256"`
}

// PulsarConfig is how a tenant's clients authenticate to Pulsar.
type PulsarConfig struct {
	// Role is the tenant's Pulsar role (default: the tenant id).
	Role string `yaml:"role"`
	// TokenFile holds the token Pulsar knows Role by; relative paths are
	// relative to the registry file. It is read on every use, so a rotated
	// token takes effect without a restart.
	TokenFile string `yaml:"token_file"`
}

// Config is one tenant as written in the registry file.
type Config struct {
	// ID is the tenant id (see ValidateID). Required.
	ID string `yaml:"id"`
	// Name is for people (default: the id).
	Name string `yaml:"name"`
	// Namespaces are the Pulsar namespaces the tenant may use.
	Namespaces []string      `yaml:"namespaces"`
	Tokens     []TokenConfig `yaml:"tokens"`
	Quotas     Quotas        `yaml:"quotas"`
	Pulsar     PulsarConfig  `yaml:"pulsar"`
}

// Tenant is one registered tenant: its settings and its quota state.
// Methods are safe for concurrent use.
type Tenant struct {
	id, name   string
	namespaces []string
	tokens     []token
	quotas     Quotas
	pulsar     PulsarConfig
	limits     *limits
}

type token struct {
	name string
	hash [32]byte
}

// ID returns the tenant id.
func (t *Tenant) ID() string { return t.id }

// Name returns the display name.
func (t *Tenant) Name() string { return t.name }

// Namespaces returns the tenant's namespaces, sorted.
func (t *Tenant) Namespaces() []string { return slices.Clone(t.namespaces) }

// HasNamespace reports whether ns is one of the tenant's namespaces.
func (t *Tenant) HasNamespace(ns string) bool {
	_, ok := slices.BinarySearch(t.namespaces, ns)
	return ok
}

// Quotas returns the tenant's quotas.
func (t *Tenant) Quotas() Quotas { return t.quotas }

// Registry is the set of tenants loaded from a file.
type Registry struct {
	byID map[string]*Tenant
	ids  []string
}

// Option sets a code-only setting of a Registry.
type Option func(*options)

type options struct{ clock clock.Clock }

// WithClock sets the clock quotas are measured by.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// Load reads a registry file. Every problem found is reported, each as a
// *config.FieldError with file, line and YAML path, joined with
// errors.Join.
func Load(path string, opts ...Option) (*Registry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tenant: %w", err)
	}
	return Parse(path, b, opts...)
}

// Parse reads a registry from file's data; file names it in errors and
// anchors relative token_file paths.
//
// The format:
//
//	tenants:
//	  - id: acme
//	    name: ACME Corp
//	    namespaces: [plant-1, plant-2]
//	    tokens:
//	      - {name: ingest, sha256: <64 hex digits>}
//	    quotas: {samples_per_second: 50000, tags: 10000, writes_per_minute: 600}
//	    pulsar: {role: acme, token_file: pulsar/acme.token}
func Parse(file string, data []byte, opts ...Option) (*Registry, error) {
	o := options{clock: clock.Real}
	for _, opt := range opts {
		opt(&o)
	}
	p := &parser{file: file}
	cfgs := p.parse(data)
	r := &Registry{byID: make(map[string]*Tenant)}
	hashes := make(map[[32]byte]string)
	for _, c := range cfgs {
		t := p.build(c, hashes)
		if t == nil {
			continue
		}
		if _, dup := r.byID[t.id]; dup {
			p.errorf(c.lines["id"], c.field+".id", "duplicate tenant id %q", t.id)
			continue
		}
		t.limits = newLimits(t.quotas, o.clock)
		r.byID[t.id] = t
		r.ids = append(r.ids, t.id)
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			return p.errs[i].(*config.FieldError).Line < p.errs[j].(*config.FieldError).Line
		})
		return nil, errors.Join(p.errs...)
	}
	sort.Strings(r.ids)
	return r, nil
}

// Tenant returns the tenant with the given id, or an error wrapping
// ErrUnknownTenant.
func (r *Registry) Tenant(id string) (*Tenant, error) {
	t, ok := r.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, id)
	}
	return t, nil
}

// IDs returns the tenant ids, sorted.
func (r *Registry) IDs() []string { return slices.Clone(r.ids) }

// parser collects errors while it reads the file.
type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, &config.FieldError{File: p.file, Line: line, Path: field, Msg: fmt.Sprintf(format, args...)})
}

// tenantNode is one tenant's config with the lines of its fields.
type tenantNode struct {
	Config
	field string         // "tenants[i]"
	line  int            // of the tenant's mapping
	lines map[string]int // field path below the tenant → line
}

func (p *parser) parse(data []byte) []tenantNode {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(1, "", "empty registry: want a tenants list")
			return nil
		}
		p.errorf(yamlErrLine(err), "", "%v", err)
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "", "want a mapping with a tenants list")
		return nil
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "tenants" {
			p.errorf(k.Line, k.Value, "unknown field")
			continue
		}
		list = v
	}
	if list == nil {
		p.errorf(root.Line, "tenants", "missing")
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list.Line, "tenants", "want a list")
		return nil
	}
	var out []tenantNode
	for i, n := range list.Content {
		tn := tenantNode{field: fmt.Sprintf("tenants[%d]", i), line: n.Line, lines: map[string]int{}}
		if p.decodeTenant(n, &tn) {
			out = append(out, tn)
		}
	}
	return out
}

// yamlErrLine digs the line out of a yaml syntax error ("yaml: line 3: …"),
// 1 when it names none.
func yamlErrLine(err error) int {
	line, _ := yamlconf.Split(err)
	return max(line, 1)
}

// decodeTenant decodes one tenant, field by field so that errors and
// unknown fields get their own lines. It reports false only when n is not
// a mapping; other problems are recorded and the tenant is still
// validated, so one pass finds them all.
func (p *parser) decodeTenant(n *yaml.Node, tn *tenantNode) bool {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, tn.field, "want a mapping")
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := tn.field + "." + k.Value
		tn.lines[k.Value] = v.Line
		var target any
		switch k.Value {
		case "id":
			target = &tn.ID
		case "name":
			target = &tn.Name
		case "namespaces":
			target = &tn.Namespaces
			for j, c := range v.Content {
				tn.lines[fmt.Sprintf("namespaces[%d]", j)] = c.Line
			}
		case "tokens":
			target = &tn.Tokens
			for j, c := range v.Content {
				tn.lines[fmt.Sprintf("tokens[%d]", j)] = c.Line
				p.fieldLines(c, fmt.Sprintf("tokens[%d]", j), tn.lines)
				p.knownFields(c, fmt.Sprintf("%s[%d]", field, j), "name", "sha256")
			}
		case "quotas":
			target = &tn.Quotas
			p.knownFields(v, field, "samples_per_second", "tags", "writes_per_minute")
			p.fieldLines(v, "quotas", tn.lines)
		case "pulsar":
			target = &tn.Pulsar
			p.knownFields(v, field, "role", "token_file")
			p.fieldLines(v, "pulsar", tn.lines)
		default:
			p.errorf(k.Line, field, "unknown field")
			continue
		}
		if err := v.Decode(target); err != nil {
			p.errorf(v.Line, field, "%s", strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", ";"), "yaml: unmarshal errors:;  "))
		}
	}
	return true
}

// knownFields reports unknown keys of mapping n.
func (p *parser) knownFields(n *yaml.Node, field string, known ...string) {
	if n.Kind != yaml.MappingNode {
		return // Decode reports the type error
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			p.errorf(k.Line, field+"."+k.Value, "unknown field")
		}
	}
}

func (p *parser) fieldLines(n *yaml.Node, prefix string, lines map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		lines[prefix+"."+n.Content[i].Value] = n.Content[i+1].Line
	}
}

// build validates a decoded tenant and makes its Tenant, or reports why
// not and returns nil.
func (p *parser) build(c tenantNode, hashes map[[32]byte]string) *Tenant {
	line := func(key string) int {
		if l, ok := c.lines[key]; ok {
			return l
		}
		return c.line
	}
	before := len(p.errs)
	if _, present := c.lines["id"]; !present {
		p.errorf(c.line, c.field+".id", "missing")
	} else if err := ValidateID(c.ID); err != nil {
		p.errorf(line("id"), c.field+".id", "%v", err)
	}
	t := &Tenant{id: c.ID, name: c.Name, quotas: c.Quotas, pulsar: c.Pulsar}
	if t.name == "" {
		t.name = c.ID
	}
	seenNS := map[string]bool{}
	for i, ns := range c.Namespaces {
		key := fmt.Sprintf("namespaces[%d]", i)
		if err := ValidateNamespace(ns); err != nil {
			p.errorf(line(key), c.field+"."+key, "%v", err)
		} else if seenNS[ns] {
			p.errorf(line(key), c.field+"."+key, "duplicate namespace %q", ns)
		}
		seenNS[ns] = true
		t.namespaces = append(t.namespaces, ns)
	}
	sort.Strings(t.namespaces)
	seenTok := map[string]bool{}
	for i, tc := range c.Tokens {
		key := fmt.Sprintf("tokens[%d]", i)
		field := c.field + "." + key
		switch {
		case tc.Name == "":
			p.errorf(line(key), field+".name", "missing")
		case seenTok[tc.Name]:
			p.errorf(line(key+".name"), field+".name", "duplicate token name %q", tc.Name)
		}
		seenTok[tc.Name] = true
		raw, err := hex.DecodeString(tc.SHA256)
		if err != nil || len(raw) != 32 {
			p.errorf(line(key+".sha256"), field+".sha256", "want 64 hex digits (the SHA-256 of the token), got %d characters", len(tc.SHA256))
			continue
		}
		var h [32]byte
		copy(h[:], raw)
		if other, dup := hashes[h]; dup {
			p.errorf(line(key+".sha256"), field+".sha256", "the same token is already registered (%s)", other)
			continue
		}
		hashes[h] = c.ID + "/" + tc.Name
		t.tokens = append(t.tokens, token{name: tc.Name, hash: h})
	}
	q := c.Quotas
	if q.SamplesPerSecond < 0 {
		p.errorf(line("quotas.samples_per_second"), c.field+".quotas.samples_per_second", "negative")
	}
	if q.Tags < 0 {
		p.errorf(line("quotas.tags"), c.field+".quotas.tags", "negative")
	}
	if q.WritesPerMinute < 0 {
		p.errorf(line("quotas.writes_per_minute"), c.field+".quotas.writes_per_minute", "negative")
	}
	if t.pulsar.Role == "" {
		t.pulsar.Role = c.ID
	}
	if f := t.pulsar.TokenFile; f != "" && !filepath.IsAbs(f) {
		t.pulsar.TokenFile = filepath.Join(filepath.Dir(p.file), f)
	}
	if len(p.errs) > before {
		return nil
	}
	return t
}
