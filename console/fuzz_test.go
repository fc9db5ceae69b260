package console

import "testing"

// FuzzDecodeRequests feeds arbitrary bodies to every request decoder: each
// either decodes or answers a 4xx with a code, never panics.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"tag":"a","value":1}`, `{"tag":"a","value":"x","confirm":true}`, `{"user":"u","password":"p"}`,
		`{"name":"d","body":{"columns":12,"widgets":[{"type":"trend","tags":["a","b"],"x":0,"y":0,"w":6,"h":3}]}}`,
		`{"name":"r","body":{"values":[{"tag":"a","value":1}]}}`, `{"name":"x","role":"viewer","password":"12345678"}`,
		`{"tag":`, `[]`, `null`, `{"body":{"widgets":[{"x":1e400}]}}`, "{\"tag\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	tagOK := func(name string) bool { return name == "a" || name == "b" }
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, e *apiError) {
			if e != nil && (e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "") {
				t.Fatalf("%s: %+v", what, e)
			}
		}
		_, e := decodeWrite(data)
		check("write", e)
		_, e = decodeLogin(data)
		check("login", e)
		_, e = decodeDoc(KindDashboard, data, tagOK)
		check("dashboard", e)
		_, e = decodeDoc(KindRecipe, data, tagOK)
		check("recipe", e)
		_, _, e = decodeUser(data, true)
		check("user", e)
		var run runRequest
		check("run", decodeJSON(data, &run))
	})
}
