package pulsartest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kiln-iot/kiln/config"
)

// Action is what a grant allows on a namespace.
type Action string

// Actions a grant can allow.
const (
	ActionProduce Action = "produce"
	ActionConsume Action = "consume"
)

// AuthConfig turns on token authentication when Tokens is not empty:
// clients then must connect with the "token" method
// (pulsar.NewAuthenticationToken) and a token listed here, and may produce
// or consume only where Grants allow their role.
type AuthConfig struct {
	// Tokens maps a token, as the client sends it, to a role.
	Tokens map[string]string `yaml:"tokens"`
	// Grants list what each role may do.
	Grants []Grant `yaml:"grants"`
	// SuperUsers are roles allowed everything.
	SuperUsers []string `yaml:"super_users"`
}

// Grant allows Role the Actions on Namespace ("tenant/namespace", or
// "tenant/*" for all of a tenant's namespaces).
type Grant struct {
	Role      string   `yaml:"role"`
	Namespace string   `yaml:"namespace"`
	Actions   []Action `yaml:"actions"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (tokens in sorted order).
func (a AuthConfig) Validate() error {
	var p config.Problems
	for _, tok := range slices.Sorted(maps.Keys(a.Tokens)) {
		if tok == "" {
			p.Add("tokens", "has an empty token")
		} else if a.Tokens[tok] == "" {
			p.Add("tokens", "a token has no role")
		}
	}
	for i, g := range a.Grants {
		at := fmt.Sprintf("grants[%d]", i)
		if g.Role == "" {
			p.Add(at+".role", "is required")
		}
		t, ns, ok := strings.Cut(g.Namespace, "/")
		if !ok || t == "" || ns == "" || strings.Contains(ns, "/") {
			p.Add(at+".namespace", "%q is not tenant/namespace", g.Namespace)
		}
		for j, act := range g.Actions {
			if act != ActionProduce && act != ActionConsume {
				p.Add(fmt.Sprintf("%s.actions[%d]", at, j), "%q is not produce or consume", act)
			}
		}
	}
	return p.Err()
}

func (a AuthConfig) enabled() bool { return len(a.Tokens) > 0 }

// authenticate returns the role of a connecting client.
func (a AuthConfig) authenticate(method string, data []byte) (string, error) {
	if !a.enabled() {
		return "", nil
	}
	if method != "token" {
		return "", fmt.Errorf("pulsartest: authentication method %q not supported, want token", method)
	}
	role, ok := a.Tokens[string(data)]
	if !ok {
		return "", errors.New("pulsartest: unknown token")
	}
	return role, nil
}

// authorize tells whether role may do act on topic.
func (a AuthConfig) authorize(role string, topic TopicName, act Action) bool {
	if !a.enabled() {
		return true
	}
	for _, su := range a.SuperUsers {
		if su == role {
			return true
		}
	}
	for _, g := range a.Grants {
		if g.Role != role {
			continue
		}
		t, ns, _ := strings.Cut(g.Namespace, "/")
		if t != topic.Tenant || (ns != "*" && ns != topic.Namespace) {
			continue
		}
		for _, x := range g.Actions {
			if x == act {
				return true
			}
		}
	}
	return false
}
