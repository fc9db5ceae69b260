package console_test

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// routeCase is a concrete request for one route, harmless to repeat.
type routeCase struct {
	path string
	body any
}

// routeCases has one request per route; a route without one fails
// TestEveryRouteChecksAuthenticationRoleAndCSRF.
var routeCases = map[string]routeCase{
	"GET /api/openapi.json":       {"/api/openapi.json", nil},
	"POST /api/login":             {"/api/login", `{}`},
	"POST /api/logout":            {"/api/logout", nil},
	"GET /api/session":            {"/api/session", nil},
	"GET /api/tags":               {"/api/tags?q=zone", nil},
	"GET /api/tags/{name...}":     {"/api/tags/Line1.Kiln.Zone1.Temp", nil},
	"GET /api/tree":               {"/api/tree", nil},
	"GET /api/values":             {"/api/values?tag=Line1.Kiln.Zone1.Temp", nil},
	"GET /api/history":            {"/api/history?tag=Line1.Kiln.Zone1.Temp&buckets=10", nil},
	"GET /api/stream":             {"/api/stream?tag=nope", nil},
	"POST /api/writes":            {"/api/writes", `{}`},
	"GET /api/recipes":            {"/api/recipes", nil},
	"POST /api/recipes":           {"/api/recipes", `{}`},
	"GET /api/recipes/{id}":       {"/api/recipes/none", nil},
	"PUT /api/recipes/{id}":       {"/api/recipes/none", `{}`},
	"DELETE /api/recipes/{id}":    {"/api/recipes/none", nil},
	"POST /api/recipes/{id}/run":  {"/api/recipes/none/run", `{}`},
	"GET /api/audit":              {"/api/audit", nil},
	"GET /api/audit.csv":          {"/api/audit.csv", nil},
	"GET /api/dashboards":         {"/api/dashboards", nil},
	"POST /api/dashboards":        {"/api/dashboards", `{}`},
	"GET /api/dashboards/{id}":    {"/api/dashboards/none", nil},
	"PUT /api/dashboards/{id}":    {"/api/dashboards/none", `{}`},
	"DELETE /api/dashboards/{id}": {"/api/dashboards/none", nil},
	"GET /api/users":              {"/api/users", nil},
	"POST /api/users":             {"/api/users", `{}`},
	"PUT /api/users/{name}":       {"/api/users/nobody", `{}`},
	"DELETE /api/users/{name}":    {"/api/users/nobody", nil},
	"GET /api/status":             {"/api/status", nil},
}

// minRole is each route's lowest role, as the API documents it.
var minRole = map[string]auth.Role{
	"POST /api/writes": auth.Operator, "POST /api/recipes": auth.Engineer, "PUT /api/recipes/{id}": auth.Engineer,
	"DELETE /api/recipes/{id}": auth.Engineer, "POST /api/recipes/{id}/run": auth.Engineer,
	"GET /api/users": auth.Admin, "POST /api/users": auth.Admin, "PUT /api/users/{name}": auth.Admin, "DELETE /api/users/{name}": auth.Admin,
}

func TestEveryRouteChecksAuthenticationRoleAndCSRF(t *testing.T) {
	e := newEnv(t, console.Config{})
	byRole := map[auth.Role]*client{}
	for _, n := range []string{"vera", "otto", "emma", "adam"} {
		c := e.login(n)
		u, _ := e.auth.Users().User(t.Context(), n)
		byRole[u.Role] = c
	}
	routes := e.console.Routes()
	// Logging out ends the sessions the other cases use: last.
	if i := slices.Index(routes, "POST /api/logout"); i >= 0 {
		routes = append(slices.Delete(routes, i, i+1), "POST /api/logout")
	}
	for _, rt := range routes {
		rc, ok := routeCases[rt]
		if !ok {
			t.Errorf("route %s has no test case", rt)
			continue
		}
		method := strings.Fields(rt)[0]
		public := rt == "GET /api/openapi.json" || rt == "POST /api/login"
		t.Run(rt, func(t *testing.T) {
			var ae apiErr
			if !public {
				if code := e.anon().do(method, rc.path, rc.body, &ae); code != 401 || ae.Code != "unauthenticated" {
					t.Errorf("without a session: %d %+v, want 401", code, ae)
				}
				bad := e.anon()
				bad.http.Jar.SetCookies(mustURL(e.url), []*httpCookie{{Name: "kiln_session", Value: "forged"}})
				if code := bad.do(method, rc.path, rc.body, nil); code != 401 {
					t.Errorf("forged session: %d, want 401", code)
				}
			}
			for role := auth.Viewer; role <= auth.Admin; role++ {
				c := byRole[role]
				code, data := c.raw(method, rc.path, rc.body, nil)
				_ = json.Unmarshal(data, &ae)
				want := minRole[rt]
				if public {
					want = auth.RoleNone
				} else if want == auth.RoleNone {
					want = auth.Viewer
				}
				denied := code == 403 && ae.Code == "forbidden"
				if role.AtLeast(want) == denied && want != auth.RoleNone {
					t.Errorf("%s: %d %s, want denied=%v", role, code, data, !role.AtLeast(want))
				}
				if code >= 500 {
					t.Errorf("%s: %d %s", role, code, data)
				}
			}
			if method == "GET" || public {
				return
			}
			admin := byRole[auth.Admin]
			if rt == "POST /api/logout" {
				admin = e.login("adam")
			}
			noToken := &client{e: e, http: admin.http, origin: e.url}
			if code := noToken.do(method, rc.path, rc.body, &ae); code != 403 || ae.Code != "csrf" {
				t.Errorf("no CSRF token: %d %+v, want 403 csrf", code, ae)
			}
			wrong := &client{e: e, http: admin.http, origin: e.url, csrf: "x" + admin.csrf}
			if code := wrong.do(method, rc.path, rc.body, &ae); code != 403 || ae.Code != "csrf" {
				t.Errorf("wrong CSRF token: %d %+v", code, ae)
			}
			foreign := &client{e: e, http: admin.http, origin: "https://evil.example", csrf: admin.csrf}
			if code := foreign.do(method, rc.path, rc.body, &ae); code != 403 || ae.Code != "bad_origin" {
				t.Errorf("other origin: %d %+v, want 403 bad_origin", code, ae)
			}
		})
	}
	// Login itself refuses another origin (login CSRF).
	c := e.anon()
	c.origin = "https://evil.example"
	var ae apiErr
	if code := c.do("POST", "/api/login", map[string]string{"user": "vera", "password": "pw-vera"}, &ae); code != 403 || ae.Code != "bad_origin" {
		t.Errorf("login from another origin: %d %+v", code, ae)
	}
	// A machine's bearer token needs no CSRF token and keeps its role.
	tok := e.anon()
	code, _ := tok.raw("GET", "/api/values?tag=Line1.Kiln.Zone1.Temp", nil, map[string]string{"Authorization": "Bearer " + e.token})
	if code != 200 {
		t.Errorf("token read: %d", code)
	}
	code, data := tok.raw("POST", "/api/writes", `{"tag":"Line1.Kiln.Zone1.Setpoint","value":1}`, map[string]string{"Authorization": "Bearer " + e.token})
	if code != 403 {
		t.Errorf("viewer token write: %d %s", code, data)
	}
	if code, _ := tok.raw("GET", "/api/status", nil, map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, console.Config{})
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if code := e.anon().do("GET", "/api/openapi.json", nil, &spec); code != 200 || !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("spec: %d %q", code, spec.OpenAPI)
	}
	var documented []string
	for p, ops := range spec.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	var served []string
	for _, rt := range e.console.Routes() {
		served = append(served, strings.ReplaceAll(rt, "...}", "}"))
	}
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	// The file served is the one in the repository.
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	_, body := e.anon().raw("GET", "/api/openapi.json", nil, nil)
	if string(body) != string(file) {
		t.Error("served spec differs from openapi.json")
	}
}
