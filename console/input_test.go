package console_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/httpserve"
	"github.com/kiln-iot/kiln/plc"
)

func TestBadInputGets4xxNamingTheField(t *testing.T) {
	e := newEnv(t, console.Config{MaxBody: 4096})
	emma := e.login("emma")
	huge := `{"tag":"` + strings.Repeat("x", 5000) + `","value":1}`
	dash := func(widgets string) string { return `{"name":"d","body":{"widgets":[` + widgets + `]}}` }
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"malformed JSON", "POST", "/api/writes", `{"tag":`, 400, "bad_json", ""},
		{"not an object", "POST", "/api/writes", `[1,2]`, 400, "bad_type", ""},
		{"two values", "POST", "/api/writes", `{"tag":"a","value":1}{}`, 400, "bad_json", ""},
		{"empty body", "POST", "/api/writes", ``, 400, "bad_json", ""},
		{"null body", "POST", "/api/writes", `null`, 400, "bad_json", ""},
		{"wrong type", "POST", "/api/writes", `{"tag":5,"value":1}`, 400, "bad_type", "tag"},
		{"unknown field", "POST", "/api/writes", `{"tag":"a","value":1,"force":true}`, 400, "unknown_field", "force"},
		{"no value", "POST", "/api/writes", `{"tag":"Line1.Kiln.Fan.Speed"}`, 400, "bad_value", "value"},
		{"huge body", "POST", "/api/writes", huge, 413, "too_large", ""},
		{"wrong content type", "POST", "/api/dashboards", "name=x", 415, "bad_content_type", ""},
		{"unknown tag", "GET", "/api/tags/Line1.Nope", nil, 404, "unknown_tag", "tag"},
		{"unknown tag value", "GET", "/api/values?tag=Line1.Nope", nil, 404, "unknown_tag", "tag"},
		{"history without tag", "GET", "/api/history", nil, 400, "bad_value", "tag"},
		{"history bad time", "GET", "/api/history?tag=Line1.Kiln.Zone1.Temp&from=yesterday", nil, 400, "bad_value", "from"},
		{"history reversed", "GET", "/api/history?tag=Line1.Kiln.Zone1.Temp&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", nil, 400, "bad_value", "from"},
		{"history too many buckets", "GET", "/api/history?tag=Line1.Kiln.Zone1.Temp&buckets=100000", nil, 400, "bad_value", "buckets"},
		{"bad limit", "GET", "/api/tags?limit=-3", nil, 400, "bad_value", "limit"},
		{"audit bad limit", "GET", "/api/audit?limit=x", nil, 400, "bad_value", "limit"},
		{"stream unknown tag", "GET", "/api/stream?tag=Line1.Nope", nil, 404, "unknown_tag", "tag"},
		{"dashboard widget type", "POST", "/api/dashboards", dash(`{"type":"pie","x":0,"y":0,"w":1,"h":1}`), 400, "bad_value", "body.widgets[0].type"},
		{"dashboard unknown tag", "POST", "/api/dashboards", dash(`{"type":"value","tag":"Nope","x":0,"y":0,"w":1,"h":1}`), 400, "unknown_tag", "body.widgets[0].tag"},
		{"dashboard off grid", "POST", "/api/dashboards", dash(`{"type":"status","x":60,"y":0,"w":1,"h":1}`), 400, "bad_value", "body.widgets[0].x"},
		{"dashboard wrong type", "POST", "/api/dashboards", `{"name":"d","body":{"widgets":"many"}}`, 400, "bad_type", "body.widgets"},
		{"dashboard no name", "POST", "/api/dashboards", `{"body":{}}`, 400, "bad_value", "name"},
		{"recipe unknown tag", "POST", "/api/recipes", `{"name":"r","body":{"values":[{"tag":"Nope","value":1}]}}`, 400, "unknown_tag", "body.values[0].tag"},
		{"user bad role", "POST", "/api/users", `{"name":"x","role":"boss","password":"longenough"}`, 400, "bad_value", "role"},
		{"user short password", "POST", "/api/users", `{"name":"x","role":"viewer","password":"short"}`, 400, "bad_value", "password"},
		{"no such recipe", "POST", "/api/recipes/zzz/run", `{}`, 404, "not_found", "id"},
		{"no such route", "GET", "/api/nothing", nil, 404, "not_found", ""},
		{"wrong method", "PATCH", "/api/tags", `{}`, 405, "method_not_allowed", ""},
	}
	admin := e.login("adam")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := emma
			if strings.HasPrefix(c.path, "/api/users") {
				cl = admin
			}
			hdr := map[string]string{}
			if c.code == "bad_content_type" {
				hdr["Content-Type"] = "application/x-www-form-urlencoded"
			}
			code, data := cl.raw(c.method, c.path, c.body, hdr)
			var ae apiErr
			if err := json.Unmarshal(data, &ae); err != nil {
				t.Fatalf("%d, body not JSON: %s", code, data)
			}
			if code != c.status || ae.Code != c.code || ae.Field != c.field || ae.Message == "" {
				t.Errorf("%d %s, want %d %s field %q", code, data, c.status, c.code, c.field)
			}
		})
	}
}

func TestDashboardsPerUserAndTenantWithExportImport(t *testing.T) {
	e := newEnv(t, console.Config{})
	vera, emma, mallory := e.login("vera"), e.login("emma"), e.login("mallory")
	var list []console.Doc
	if vera.do("GET", "/api/dashboards", nil, &list); len(list) != 1 || list[0].ID != "default" {
		t.Fatalf("default dashboard: %+v", list)
	}
	var def console.Doc
	vera.do("GET", "/api/dashboards/default", nil, &def)
	if !strings.Contains(string(def.Body), `"type":"setpoint"`) || !strings.Contains(string(def.Body), `"type":"trend"`) {
		t.Fatalf("default body: %s", def.Body)
	}

	mine := `{"name":"Mine","body":{"columns":12,"widgets":[{"type":"gauge","tag":"Line1.Kiln.Zone1.Temp","x":0,"y":0,"w":3,"h":2}]}}`
	var d console.Doc
	if code := vera.do("POST", "/api/dashboards", mine, &d); code != 201 || d.Owner != "vera" {
		t.Fatalf("viewer's own dashboard: %d %+v", code, d)
	}
	var ae apiErr
	if code := vera.do("POST", "/api/dashboards", `{"name":"All","shared":true,"body":{"widgets":[]}}`, &ae); code != 403 {
		t.Fatalf("viewer shares a dashboard: %d %+v", code, ae)
	}
	if code := emma.do("GET", "/api/dashboards/"+d.ID, nil, &ae); code != 404 {
		t.Errorf("another user's personal dashboard: %d", code)
	}
	if code := mallory.do("GET", "/api/dashboards/"+d.ID, nil, &ae); code != 404 {
		t.Errorf("another tenant's dashboard: %d", code)
	}
	if code := mallory.do("PUT", "/api/dashboards/"+d.ID, mine, &ae); code != 404 {
		t.Errorf("another tenant replaces it: %d", code)
	}
	if code := mallory.do("DELETE", "/api/dashboards/"+d.ID, nil, &ae); code != 404 {
		t.Errorf("another tenant deletes it: %d", code)
	}

	// Export (GET) and import (POST of the same JSON) as the engineer.
	var exp console.Doc
	emma.do("POST", "/api/dashboards", `{"name":"Shared","shared":true,"body":{"widgets":[{"type":"alarms","x":0,"y":0,"w":12,"h":3}]}}`, &exp)
	_, data := emma.raw("GET", "/api/dashboards/"+exp.ID, nil, nil)
	var imp console.Doc
	if code := mallory.do("POST", "/api/dashboards", data, &imp); code != 201 || imp.Tenant != "other" || imp.ID == exp.ID {
		t.Fatalf("import into another tenant: %d %+v", code, imp)
	}
	vera.do("GET", "/api/dashboards", nil, &list)
	if len(list) != 3 {
		t.Fatalf("vera sees %d dashboards, want default, shared, her own", len(list))
	}
	mallory.do("GET", "/api/dashboards", nil, &list)
	for _, x := range list {
		if x.ID == d.ID || x.ID == exp.ID {
			t.Errorf("tenant other sees %+v", x)
		}
	}
	if code := vera.do("DELETE", "/api/dashboards/"+exp.ID, nil, &ae); code != 403 {
		t.Errorf("viewer deletes a shared dashboard: %d", code)
	}
	if code := vera.do("DELETE", "/api/dashboards/"+d.ID, nil, nil); code != 204 {
		t.Errorf("viewer deletes her own: %d", code)
	}
	// Users of another tenant are invisible to the admin.
	var users []struct{ Name string }
	e.login("adam").do("GET", "/api/users", nil, &users)
	for _, u := range users {
		if u.Name == "mallory" {
			t.Error("admin sees another tenant's user")
		}
	}
	if code := mallory.do("PUT", "/api/users/vera", `{"role":"admin"}`, &ae); code != 404 {
		t.Errorf("other tenant's admin changes vera: %d", code)
	}
}

func TestStreamSendsSnapshotThenChangesOnly(t *testing.T) {
	e := newEnv(t, console.Config{})
	vera := e.login("vera")
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.url+"/api/stream?tag=Line1.Kiln.Zone1.Temp&tag=Line1.Kiln.Fan.Speed", nil)
	resp, err := vera.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan [2]string, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{ev, v}
			}
		}
	}()
	next := func() (string, []map[string]any) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			var ss []map[string]any
			if err := json.Unmarshal([]byte(ev[1]), &ss); err != nil {
				t.Fatal(err)
			}
			return ev[0], ss
		case <-time.After(30 * time.Second):
			t.Fatal("no event")
		}
		return "", nil
	}
	kind, ss := next()
	if kind != "snapshot" || len(ss) != 2 || ss[0]["tag"] != "Line1.Kiln.Zone1.Temp" || ss[0]["q"] != "good" {
		t.Fatalf("first event %s %v", kind, ss)
	}
	if err := e.plant.Set("Line1.Kiln.Zone1.Temp", realValue(1234.5)); err != nil {
		t.Fatal(err)
	}
	for {
		kind, ss = next()
		if kind != "samples" {
			t.Fatalf("event %q", kind)
		}
		for _, s := range ss {
			if s["tag"] != "Line1.Kiln.Zone1.Temp" && s["tag"] != "Line1.Kiln.Fan.Speed" {
				t.Fatalf("unwatched tag %v", s)
			}
		}
		if len(ss) == 1 && ss[0]["v"] == 1234.5 {
			break
		}
	}
}

func TestHistoryRawAndBuckets(t *testing.T) {
	e := newEnv(t, console.Config{})
	vera := e.login("vera")
	// Start from a known value, so the plant's initial one is out of range.
	_ = e.plant.Set("Line1.Kiln.Zone2.Temp", realValue(90))
	e.eventually("value read", func() bool {
		ss, _ := e.plant.Backend.Latest(t.Context(), []string{"Line1.Kiln.Zone2.Temp"})
		return ss[0].Value.Float() == 90
	})
	from := time.Now()
	for i := range 5 {
		_ = e.plant.Set("Line1.Kiln.Zone2.Temp", realValue(float64(100+i*10)))
		e.eventually("value read", func() bool {
			ss, _ := e.plant.Backend.Latest(t.Context(), []string{"Line1.Kiln.Zone2.Temp"})
			return ss[0].Value.Float() == float64(100+i*10)
		})
	}
	to := time.Now().Add(time.Second)
	q := "/api/history?tag=Line1.Kiln.Zone2.Temp&from=" + from.UTC().Format(time.RFC3339Nano) + "&to=" + to.UTC().Format(time.RFC3339Nano)
	var raw []struct {
		Tag    string
		Points []struct {
			V any
			Q string
		}
	}
	vera.do("GET", q, nil, &raw)
	var seen []float64
	for _, p := range raw[0].Points {
		if f, ok := p.V.(float64); ok && f >= 100 {
			seen = append(seen, f)
		}
	}
	if len(seen) < 5 || seen[len(seen)-1] != 140 {
		t.Fatalf("raw points %v", raw)
	}
	var b []struct {
		Buckets []struct {
			N        int
			Min, Max float64
		}
	}
	vera.do("GET", q+"&buckets=1", nil, &b)
	if len(b[0].Buckets) != 1 || b[0].Buckets[0].Max != 140 || b[0].Buckets[0].N < 5 {
		t.Fatalf("one bucket %+v", b)
	}
}

func TestAggregateEnvelopeAndBadSpans(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := []plc.Sample{
		{Time: t0, Value: realValue(1), Quality: plc.Good},
		{Time: t0.Add(time.Second), Value: realValue(99), Quality: plc.Good},
		{Time: t0.Add(2 * time.Second), Value: realValue(2), Quality: plc.Good},
		{Time: t0.Add(6 * time.Second), Quality: plc.Bad(plc.ReasonCommFailure, "")},
	}
	bs := console.Aggregate(ss, t0, t0.Add(10*time.Second), 2)
	if bs[0].Count != 3 || bs[0].Min != 1 || bs[0].Max != 99 || bs[0].Last != 2 || bs[1].Bad != 1 || bs[1].Count != 1 {
		t.Fatalf("%+v", bs)
	}
}

var assetRef = regexp.MustCompile(`"assets/(app\.[0-9a-f]{10}\.(js|css))"`)

func TestAssetsAreHashedPrecompressedAndCached(t *testing.T) {
	e := newEnv(t, console.Config{})
	hc := &http.Client{Transport: e.tr}
	resp, err := hc.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("index headers %v", resp.Header)
	}
	refs := assetRef.FindAllStringSubmatch(string(page), -1)
	if len(refs) != 2 {
		t.Fatalf("index names %d hashed assets:\n%s", len(refs), page)
	}
	for _, ref := range refs {
		src, err := os.ReadFile("web/" + strings.Split(ref[1], ".")[0] + "." + ref[2])
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{"br", "gzip", ""} {
			req, _ := http.NewRequest("GET", e.url+"/assets/"+ref[1], nil)
			req.Header.Set("Accept-Encoding", enc)
			if enc == "" {
				req.Header.Set("Accept-Encoding", "identity")
			}
			resp, err := e.tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("%s %s: headers %v", ref[1], enc, resp.Header)
			}
			var plain []byte
			switch enc {
			case "br":
				plain, err = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
			case "gzip":
				zr, zerr := gzip.NewReader(bytes.NewReader(body))
				if zerr != nil {
					t.Fatal(zerr)
				}
				plain, err = io.ReadAll(zr)
			default:
				plain = body
			}
			if err != nil || !bytes.Equal(plain, src) {
				t.Fatalf("%s as %q differs from web/ (run go generate ./console): %v", ref[1], enc, err)
			}
		}
	}
	resp, err = hc.Get(e.url + "/assets/app.0000000000.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown asset: %d", resp.StatusCode)
	}
}

func TestAPIAnswersAreGzippedForClientsThatTakeIt(t *testing.T) {
	e := newEnv(t, console.Config{})
	vera := e.login("vera")
	req, _ := http.NewRequest("GET", e.url+"/api/tags", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	for _, ck := range vera.http.Jar.Cookies(mustURL(e.url)) {
		req.AddCookie(ck)
	}
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Total int }
	if err := json.NewDecoder(zr).Decode(&list); err != nil || list.Total != 7 {
		t.Fatalf("decoded %+v, %v", list, err)
	}
}

func TestConsoleMountedUnderAPrefix(t *testing.T) {
	e := newEnv(t, console.Config{})
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", e.console))
	srv, err := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, mux)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c := e.anon()
	c.e = &env{t: t, url: srv.URL() + "/console", tr: e.tr}
	c.origin = srv.URL()
	var s struct{ CSRF string }
	if code := c.do("POST", "/api/login", map[string]string{"user": "vera", "password": "pw-vera"}, &s); code != 200 {
		t.Fatalf("login under the prefix: %d", code)
	}
	code, page := c.raw("GET", "/", nil, nil)
	refs := assetRef.FindAllStringSubmatch(string(page), -1)
	if code != 200 || len(refs) != 2 {
		t.Fatalf("index under the prefix: %d %s", code, page)
	}
	if code, _ := c.raw("GET", "/assets/"+refs[0][1], nil, nil); code != 200 {
		t.Fatalf("asset under the prefix: %d", code)
	}
	var list struct{ Total int }
	if code := c.do("GET", "/api/tags", nil, &list); code != 200 || list.Total != 7 {
		t.Fatalf("tags under the prefix: %d %+v", code, list)
	}
}
