package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/plc"
)

type writeResult struct {
	Tag, Status, Code, Message, Field string
	ReadBack                          any `json:"read_back"`
	Old                               any
}

func (e *env) memory(tag string) plc.Value {
	e.t.Helper()
	v, err := e.plant.Get(tag)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func TestWritesAreCheckedWrittenReadBackAndAudited(t *testing.T) {
	e := newEnv(t, console.Config{})
	const sp, sp2, fan, burner = "Line1.Kiln.Zone1.Setpoint", "Line1.Kiln.Zone2.Setpoint", "Line1.Kiln.Fan.Speed", "Line1.Kiln.Burner.Enable"
	otto, emma, vera := e.login("otto"), e.login("emma"), e.login("vera")

	var res writeResult
	if code := otto.do("POST", "/api/writes", map[string]any{"tag": sp, "value": 900.5}, &res); code != 200 || res.Status != "confirmed" || res.ReadBack != 900.5 {
		t.Fatalf("operator writes an operator tag: %d %+v", code, res)
	}
	if got := e.memory(sp); got.Float() != 900.5 {
		t.Fatalf("PLC memory holds %v, want 900.5", got)
	}

	cases := []struct {
		who                *client
		name, tag, value   string
		status             int
		code, field, extra string
	}{
		{otto, "above the limit", sp, `1500`, 422, "out_of_limits", "value", "above the maximum 1200"},
		{otto, "below the limit", sp, `-1`, 422, "out_of_limits", "value", "below the minimum 0"},
		{otto, "wrong type", sp, `"hot"`, 422, "bad_value", "value", ""},
		{otto, "not an integer", fan, `50.5`, 422, "bad_value", "value", ""},
		{otto, "engineer tag", sp2, `100`, 403, "forbidden", "tag", "engineer role"},
		{emma, "read-only tag", "Line1.Kiln.Zone1.Temp", `1`, 409, "read_only", "tag", ""},
		{emma, "unknown tag", "Line1.Nope", `1`, 404, "unknown_tag", "tag", ""},
		{emma, "critical without confirmation", burner, `true`, 422, "confirmation_required", "confirm", ""},
	}
	before := e.memory(sp)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r writeResult
			code := c.who.do("POST", "/api/writes", `{"tag":"`+c.tag+`","value":`+c.value+`}`, &r)
			if code != c.status || r.Status != "refused" || r.Code != c.code || r.Field != c.field || !strings.Contains(r.Message, c.extra) {
				t.Errorf("%d %+v, want %d refused %s %s %q", code, r, c.status, c.code, c.field, c.extra)
			}
		})
	}
	if after := e.memory(sp); !after.Equal(before) {
		t.Fatalf("a refused write reached the PLC: %v → %v", before, after)
	}
	if code := vera.do("POST", "/api/writes", map[string]any{"tag": sp, "value": 1}, nil); code != 403 {
		t.Errorf("viewer write: %d", code)
	}
	if code := emma.do("POST", "/api/writes", map[string]any{"tag": burner, "value": true, "confirm": true}, &res); code != 200 || res.Status != "confirmed" {
		t.Fatalf("critical with confirmation: %d %+v", code, res)
	}
	if !e.memory(burner).Bool() {
		t.Fatal("burner not enabled in the PLC")
	}

	// The backend checks again: a write that bypasses the console's checks
	// is refused by the Writer, before the PLC.
	ctx := context.Background()
	if _, err := e.plant.Backend.Write(ctx, sp, []byte(`5000`)); err == nil {
		t.Fatal("backend wrote out of limits without a user")
	}

	var audit []console.AuditEntry
	if code := emma.do("GET", "/api/audit?tag="+sp, nil, &audit); code != 200 || len(audit) == 0 {
		t.Fatalf("audit: %d %v", code, audit)
	}
	first := audit[len(audit)-1]
	if first.Who != "otto" || first.Action != "write" || first.New != "900.5" || first.ReadBack != "900.5" || first.Result != "ok" || first.Channel != "console" {
		t.Errorf("audit of the write: %+v", first)
	}
	_, csv := emma.raw("GET", "/api/audit.csv?action=write", nil, nil)
	if !strings.HasPrefix(string(csv), "time,who,tenant,channel,action,tag,old,new,read_back,result,detail\n") || !strings.Contains(string(csv), ",otto,,console,write,"+sp+",") {
		t.Errorf("CSV:\n%s", csv)
	}
}

func TestRecipeIsCheckedAsAWholeWrittenPerTagAndAuditedOnce(t *testing.T) {
	e := newEnv(t, console.Config{})
	emma := e.login("emma")
	var doc console.Doc
	body := `{"name":"Bisque","body":{"values":[{"tag":"Line1.Kiln.Zone1.Setpoint","value":950},{"tag":"Line1.Kiln.Fan.Speed","value":45}]}}`
	if code := emma.do("POST", "/api/recipes", body, &doc); code != 201 || doc.ID == "" {
		t.Fatalf("create: %d %+v", code, doc)
	}
	var res struct {
		Status string
		Tags   []writeResult
	}
	if code := emma.do("POST", "/api/recipes/"+doc.ID+"/run", `{}`, &res); code != 200 || res.Status != "confirmed" || len(res.Tags) != 2 || res.Tags[1].Status != "confirmed" {
		t.Fatalf("run: %d %+v", code, res)
	}
	if e.memory("Line1.Kiln.Zone1.Setpoint").Float() != 950 || e.memory("Line1.Kiln.Fan.Speed").Float() != 45 {
		t.Fatal("recipe values not in the PLC")
	}

	bad := `{"name":"Too hot","body":{"values":[{"tag":"Line1.Kiln.Fan.Speed","value":10},{"tag":"Line1.Kiln.Zone1.Setpoint","value":5000}]}}`
	if code := emma.do("POST", "/api/recipes", bad, &doc); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := emma.do("POST", "/api/recipes/"+doc.ID+"/run", nil, &res); code != 422 || res.Status != "refused" || res.Tags[0].Status != "not_written" || res.Tags[1].Code != "out_of_limits" {
		t.Fatalf("run with one bad value: %d %+v", code, res)
	}
	if e.memory("Line1.Kiln.Fan.Speed").Float() != 45 {
		t.Fatal("a refused recipe wrote a value")
	}
	var audit []console.AuditEntry
	emma.do("GET", "/api/audit?action=recipe", nil, &audit)
	if len(audit) != 2 || audit[0].Tag != "Too hot" || audit[0].Result != "refused" || audit[1].Result != "ok" || !strings.Contains(audit[1].Detail, "Line1.Kiln.Fan.Speed=confirmed") {
		t.Fatalf("recipe audit: %+v", audit)
	}
}

func TestLoginAttemptsAreAuditedAndRateLimited(t *testing.T) {
	e := newEnv(t, console.Config{})
	adam := e.login("adam") // before the address is limited
	c := e.anon()
	var ae apiErr
	for range 5 {
		if code := c.do("POST", "/api/login", map[string]string{"user": "vera", "password": "guess"}, &ae); code != 401 || ae.Code != "bad_credentials" {
			t.Fatalf("wrong password: %d %+v", code, ae)
		}
	}
	code, _ := c.raw("POST", "/api/login", map[string]string{"user": "vera", "password": "pw-vera"}, nil)
	if code != 429 {
		t.Fatalf("after 5 failures: %d, want 429", code)
	}
	var audit []console.AuditEntry
	adam.do("GET", "/api/audit?action=login&who=vera", nil, &audit)
	if len(audit) != 6 || !strings.Contains(audit[0].Result, "too many") || audit[5].Result == "ok" {
		t.Fatalf("login audit: %+v", audit)
	}
}

func TestDeviceDownShowsInStatusAndQuality(t *testing.T) {
	e := newEnv(t, console.Config{})
	vera := e.login("vera")
	if err := e.plant.Sim.Stop(); err != nil {
		t.Fatal(err)
	}
	var st console.Status
	e.eventually("device down", func() bool {
		vera.do("GET", "/api/status", nil, &st)
		return len(st.Devices) == 1 && !st.Devices[0].Up
	})
	var vals []struct{ Q, Reason string }
	vera.do("GET", "/api/values?tag=Line1.Kiln.Zone1.Temp", nil, &vals)
	if vals[0].Q != "bad" || vals[0].Reason != "comm failure" {
		t.Fatalf("value while down: %+v", vals)
	}
	if err := e.plant.Sim.Start(); err != nil {
		t.Fatal(err)
	}
	e.eventually("device up", func() bool {
		vera.do("GET", "/api/status", nil, &st)
		return st.Devices[0].Up
	})
	_ = consoletest.Device
}

// unanswered is a backend whose writes get no answer, as a platform's
// command to a gateway that is offline: the write waits until the
// console gives up.
type unanswered struct{ console.Backend }

func (unanswered) Write(ctx context.Context, _ string, _ json.RawMessage) (plc.Value, error) {
	<-ctx.Done()
	return plc.Value{}, ctx.Err()
}

func TestWriteWithoutAnswerInTimeIsReportedTimedOut(t *testing.T) {
	e := newEnvWith(t, console.Config{WriteTimeout: 100 * time.Millisecond}, consoletest.Config{},
		func(b console.Backend) console.Backend { return unanswered{b} })
	otto := e.login("otto")
	var res writeResult
	code := otto.do("POST", "/api/writes", map[string]any{"tag": "Line1.Kiln.Fan.Speed", "value": 55}, &res)
	if code != 504 || res.Status != "timed_out" || !strings.Contains(res.Message, "may or may not") {
		t.Fatalf("unanswered write: %d %+v", code, res)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, secure := range []bool{false, true} {
		e := newEnv(t, console.Config{SecureCookie: secure})
		c := e.anon()
		req, _ := http.NewRequest("POST", e.url+"/api/login", strings.NewReader(`{"user":"vera","password":"pw-vera"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var ck *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "kiln_session" {
				ck = k
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != secure || ck.Path != "/" || len(ck.Value) < 40 {
			t.Fatalf("secure=%v: cookie %+v", secure, ck)
		}
		// Logging out ends the session on the server, not only the cookie.
		c.csrf = "" // fetched below
		var s struct{ CSRF string }
		c.do("GET", "/api/session", nil, &s)
		c.csrf = s.CSRF
		if code := c.do("POST", "/api/logout", nil, nil); code != 204 {
			t.Fatalf("logout: %d", code)
		}
		if _, ok := e.auth.Session(t.Context(), ck.Value); ok {
			t.Fatal("session alive after logout")
		}
	}
}
