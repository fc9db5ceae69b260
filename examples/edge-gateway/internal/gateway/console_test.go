package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

// consoleClient logs in to the gateway's console as a demo user.
type consoleClient struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func loginConsole(t *testing.T, base, user string) *consoleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: base + "/console", http: &http.Client{Jar: jar, Transport: &http.Transport{}}}
	t.Cleanup(c.http.CloseIdleConnections)
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/login", `{"user":"`+user+`","password":"`+gateway.DemoPassword+`"}`, &s); code != 200 {
		t.Fatalf("login %s: %d", user, code)
	}
	c.csrf = s.CSRF
	return c
}

func (c *consoleClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.base[:strings.Index(c.base, "/console")])
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode
}

func TestConsoleServedByTheGatewayWritesThroughItsWriter(t *testing.T) {
	g, base := startDemo(t)
	plant := g.Plant().(*sim.Plant)
	resp, err := http.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `src="assets/app.`) {
		t.Fatalf("console page: %d %s", resp.StatusCode, page)
	}

	eng := loginConsole(t, base, "engineer")
	var res struct {
		Status   string
		ReadBack float64 `json:"read_back"`
	}
	code := eng.do("POST", "/api/writes", `{"tag":"Kiln1.Zone1.Setpoint","value":871}`, &res)
	if code != 200 || res.Status != "confirmed" || res.ReadBack != 871 {
		t.Fatalf("engineer's write: %d %+v", code, res)
	}
	if v, _ := plant.Get("Kiln1.Zone1.Setpoint"); v.Float() != 871 {
		t.Fatalf("plant holds %v", v)
	}
	var refused struct{ Status, Code string }
	if code := eng.do("POST", "/api/writes", `{"tag":"Kiln1.Zone1.Setpoint","value":99999}`, &refused); code != 422 || refused.Code != "out_of_limits" {
		t.Fatalf("out of limits: %d %+v", code, refused)
	}
	op := loginConsole(t, base, "operator")
	if code := op.do("POST", "/api/writes", `{"tag":"Kiln1.Zone1.Setpoint","value":860}`, &refused); code != 403 {
		t.Fatalf("operator writes an engineer's tag: %d %+v", code, refused)
	}
	if v, _ := plant.Get("Kiln1.Zone1.Setpoint"); v.Float() != 871 {
		t.Fatalf("a refused write reached the plant: %v", v)
	}

	var audit []struct{ Who, Action, Tag, New, Result, Channel string }
	eng.do("GET", "/api/audit?tag=Kiln1.Zone1.Setpoint", "", &audit)
	if len(audit) == 0 || audit[len(audit)-1].Who != "engineer" || audit[len(audit)-1].New != "871" || audit[len(audit)-1].Channel != "console" {
		t.Fatalf("audit %+v", audit)
	}
	var st struct {
		Devices []struct{ Up bool }
	}
	deadline := time.Now().Add(30 * time.Second)
	for eng.do("GET", "/api/status", "", &st); len(st.Devices) == 0 || !st.Devices[0].Up; eng.do("GET", "/api/status", "", &st) {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
