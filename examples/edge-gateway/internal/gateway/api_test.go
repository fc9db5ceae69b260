package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kconfig "github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/pulsar"
)

// startDemo runs the demo gateway until the test ends and waits until it
// is ready.
func startDemo(t *testing.T) (*gateway.Gateway, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	g, err := gateway.New(ctx, config.Config{DataDir: t.TempDir(), HTTP: config.HTTP{Listen: "127.0.0.1:0"}}, gateway.WithPlant(demo.Plant))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = g.Close()
	})
	base := "http://" + g.Addr()
	eventually(t, 30*time.Second, "ready", func() bool { return getJSON(t, base+"/healthz", nil) == http.StatusOK })
	return g, base
}

// post sends body as a write of tag and returns the status and the
// response's text.
func post(t *testing.T, base, tag, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/tags/"+tag+"/write", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWritesAreStrictlyTyped: a JSON boolean only for a BOOL, a number
// (or a number as text) for a numeric tag; anything else is a 400 and
// never reaches the PLC.
func TestWritesAreStrictlyTyped(t *testing.T) {
	g, base := startDemo(t)
	plant := g.Plant().(*sim.Plant)
	tests := []struct {
		tag, body string
		status    int
		reason    string
	}{
		{"Kiln1.Zone1.Setpoint", `{"value": true}`, http.StatusBadRequest, "a boolean for a REAL"},
		{"Kiln1.Burner.Enable", `{"value": 1}`, http.StatusBadRequest, "a number for a BOOL"},
		{"Kiln1.Burner.Enable", `{"value": "true"}`, http.StatusBadRequest, "a string for a BOOL"},
		{"Kiln1.Recipe", `{"value": 7}`, http.StatusBadRequest, "a number for a STRING"},
		{"Line1.Fan1.SpeedSetpoint", `{"value": false}`, http.StatusBadRequest, "a boolean for a INT"},
		{"Kiln1.Zone1.Setpoint", `{"value": "865"}`, http.StatusOK, ""},
		{"Kiln1.Burner.Enable", `{"value": false}`, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.tag+" "+tt.body, func(t *testing.T) {
			before := plant.Writes()
			code, resp := post(t, base, tt.tag, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, resp)
			}
			var a command.Audit
			if err := json.Unmarshal([]byte(resp), &a); err != nil {
				t.Fatal(err)
			}
			if tt.reason == "" {
				if a.Code != command.CodeOK {
					t.Fatalf("audit %+v", a)
				}
				return
			}
			if a.Code != command.CodeBadValue || !strings.Contains(a.Result, tt.reason) {
				t.Fatalf("audit %+v, want code bad_value naming %q", a, tt.reason)
			}
			if n := plant.Writes(); n != before {
				t.Fatalf("the PLC took %d writes of a refused value", n-before)
			}
		})
	}
	if v, _ := plant.Get("Kiln1.Zone1.Setpoint"); v.Float() != 865 {
		t.Fatalf("setpoint in the PLC: %v, want 865", v)
	}
}

// TestWriteBodyIsOneBoundedObject: a body over the limit is a 413 naming
// it; data after the JSON object is a 400, and neither write is made.
func TestWriteBodyIsOneBoundedObject(t *testing.T) {
	g, base := startDemo(t)
	plant := g.Plant().(*sim.Plant)
	before := plant.Writes()
	huge := `{"value": 870, "who": "` + strings.Repeat("x", 70<<10) + `"}`
	if code, resp := post(t, base, "Kiln1.Zone1.Setpoint", huge); code != http.StatusRequestEntityTooLarge || !strings.Contains(resp, "65536 bytes") {
		t.Fatalf("oversized body: %d %s", code, resp)
	}
	for _, body := range []string{`{"value":105} {"value":5000}`, `{"value":105} x`, `{"value":105}]`} {
		if code, resp := post(t, base, "Kiln1.Zone1.Setpoint", body); code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", body, code, resp)
		}
	}
	if n := plant.Writes(); n != before {
		t.Fatalf("the PLC took %d writes of refused bodies", n-before)
	}
	// Trailing spaces and newlines are not data.
	if code, resp := post(t, base, "Kiln1.Zone1.Setpoint", "{\"value\":866}\n \n"); code != http.StatusOK {
		t.Fatalf("body with a trailing newline: %d %s", code, resp)
	}
}

// TestTopicOfAnotherTenantRefused: a gateway whose Pulsar topics belong
// to another tenant than its own does not start; the error names both.
func TestTopicOfAnotherTenantRefused(t *testing.T) {
	cfg := config.Config{ID: "gw-1", Tenant: "acme", Token: "t", DataDir: t.TempDir(), Demo: config.DemoOff,
		Devices:  []config.Device{{Name: "plc1", Driver: "s7", Endpoint: "127.0.0.1:1"}},
		TagFiles: []string{"unused.yaml"},
		HTTP:     config.HTTP{Listen: "127.0.0.1:0"},
		Transport: config.Transport{Kind: config.TransportPulsar,
			Pulsar: pulsar.PublisherConfig{Client: pulsar.ClientConfig{URL: "pulsar://127.0.0.1:1"}, Topic: "persistent://globex/plant/samples"}},
	}
	_, err := gateway.New(context.Background(), cfg)
	if !errors.Is(err, kconfig.ErrInvalid) {
		t.Fatalf("New = %v, want a configuration error", err)
	}
	var paths []string
	for _, fe := range kconfig.List(err) {
		paths = append(paths, fe.Path)
		if !strings.Contains(fe.Msg, `"globex"`) || !strings.Contains(fe.Msg, `"acme"`) {
			t.Errorf("%s: %q does not name both tenants", fe.Path, fe.Msg)
		}
	}
	if len(paths) == 0 || paths[0] != "transport.pulsar.topic" {
		t.Fatalf("problems at %v, want transport.pulsar.topic first", paths)
	}
}

// TestHealthNamesTheDeviceConnectionError: /healthz and /api/status say
// why a device is down (its port refuses, the PLC refuses rack and
// slot), not only that its tags are bad.
func TestHealthNamesTheDeviceConnectionError(t *testing.T) {
	srv, err := s7sim.New(s7sim.Config{Slot: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	dir := t.TempDir()
	tags := filepath.Join(dir, "tags.yaml")
	if err := os.WriteFile(tags, []byte("tags:\n"+
		"  - {name: A.Temp, device: refused, address: DB1.DBD0, type: REAL}\n"+
		"  - {name: B.Temp, device: wrongslot, address: DB1.DBD0, type: REAL}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{DataDir: dir, Demo: config.DemoOff, HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Devices: []config.Device{
			{Name: "refused", Driver: "s7", Endpoint: closed},
			{Name: "wrongslot", Driver: "s7", Endpoint: srv.Addr(), Options: map[string]string{"slot": "3"}},
		},
		TagFiles: []string{tags}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(gctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://" + g.Addr()
	var health struct{ Problems []string }
	has := func(list []string, a, b string) bool {
		for _, p := range list {
			if strings.Contains(p, a) && strings.Contains(p, b) {
				return true
			}
		}
		return false
	}
	eventually(t, 30*time.Second, "healthz naming both causes", func() bool {
		health.Problems = nil
		code := getJSON(t, base+"/healthz", &health)
		return code == http.StatusServiceUnavailable && has(health.Problems, "device refused down", "connection refused") &&
			has(health.Problems, "device wrongslot down", "check rack, slot and TSAPs")
	})
	var st struct {
		Devices []struct {
			Name            string `json:"name"`
			ConnectionError string `json:"connection_error"`
		}
	}
	getJSON(t, base+"/api/status", &st)
	for _, d := range st.Devices {
		if d.ConnectionError == "" {
			t.Errorf("/api/status: device %s has no connection_error", d.Name)
		}
	}
}

// TestListenAddressTaken: the HTTP address in use is an error of New
// naming the setting, before anything is served.
func TestListenAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = gateway.New(context.Background(), config.Config{DataDir: t.TempDir(), HTTP: config.HTTP{Listen: ln.Addr().String()}}, gateway.WithPlant(demo.Plant))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), "http.listen: ") {
		t.Fatalf("New = %v, want http.listen: … address already in use", err)
	}
}
