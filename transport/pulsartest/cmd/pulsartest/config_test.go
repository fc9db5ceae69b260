package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/config"
)

// TestParseConfigReportsEveryProblemInOneRun parses broken broker files
// and checks that one parse names every problem with file, line and YAML
// path ("line:path"), in words without Go type names.
func TestParseConfigReportsEveryProblemInOneRun(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "adr: 127.0.0.1:1\n", []string{"1:addr"}},
		{"far from any field", "colour: red\n", []string{"1:"}},
		{"wrong kinds", "max_message_size: big\nkeep_alive: 5\ndisable_deduplication: perhaps\n", []string{"1:max_message_size", "2:keep_alive", "3:disable_deduplication"}},
		{"negative", "max_message_size: -1\nkeep_alive: -1s\n", []string{"1:max_message_size", "2:keep_alive"}},
		{"kinds and validation together", "max_message_size: -1\nkeep_alive: soon\nauth: {grants: [{namespace: acme}]}\n", []string{"2:keep_alive", "1:max_message_size", "3:auth.grants[0].role", "3:auth.grants[0].namespace"}},
		{"grants", "auth:\n  tokens: {t1: gw}\n  grants:\n    - role: gw\n      namespace: acme/plant\n      actions: [produce, delete]\n    - {role: \"\", namespace: a/b/c}\n", []string{"6:auth.grants[0].actions[1]", "7:auth.grants[1].role", "7:auth.grants[1].namespace"}},
		{"token without a role", "auth:\n  tokens: {t1: \"\"}\n", []string{"2:auth.tokens"}},
		{"unknown auth field", "auth:\n  super_user: [admin]\n  tokens: [a]\n", []string{"2:auth.super_users", "3:auth.tokens"}},
		{"grant not a mapping", "auth:\n  grants: [admin]\n", []string{"2:auth.grants[0]"}},
		{"actions not a list", "auth:\n  grants:\n    - {role: r, namespace: a/b, actions: produce}\n", []string{"3:auth.grants[0].actions"}},
		{"a field given twice", "addr: a:1\naddr: b:2\n", []string{"2:addr"}},
		{"not a mapping", "- addr\n", []string{"1:"}},
		{"syntax", "addr: [\n", []string{"1:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseConfig("broker.yaml", []byte(c.yaml))
			var got []string
			for _, fe := range config.List(err) {
				got = append(got, fmt.Sprintf("%d:%s", fe.Line, fe.Path))
				if fe.File != "broker.yaml" {
					t.Errorf("%v: file %q", fe, fe.File)
				}
				for _, word := range []string{"!!", "unmarshal", "time.Duration", "not found in type", "pulsartest:"} {
					if strings.Contains(fe.Msg, word) {
						t.Errorf("%v: names Go's %q", fe, word)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("problems %q, want %q:\n%v", got, c.want, err)
			}
		})
	}
}

func TestParseConfigDecodesAGoodFile(t *testing.T) {
	cfg, err := parseConfig("broker.yaml", []byte("addr: 127.0.0.1:6651\nkeep_alive: 10s\nauth:\n  tokens: {t1: gw}\n  grants: [{role: gw, namespace: acme/*, actions: [produce]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:6651" || cfg.KeepAlive != 10*time.Second || cfg.Auth.Tokens["t1"] != "gw" || cfg.Auth.Grants[0].Actions[0] != "produce" {
		t.Errorf("decoded %+v", cfg)
	}
}
