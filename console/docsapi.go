package console

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kiln-iot/kiln/console/auth"
)

// Widget types of a dashboard.
var widgetTypes = map[string]bool{"value": true, "gauge": true, "trend": true, "setpoint": true, "status": true, "alarms": true}

// dashboardBody is a dashboard: widgets on a grid of Columns columns.
type dashboardBody struct {
	Columns int      `json:"columns"`
	Widgets []widget `json:"widgets"`
}

type widget struct {
	Type  string   `json:"type"`
	Title string   `json:"title"`
	Tag   string   `json:"tag"`
	Tags  []string `json:"tags"`
	X     int      `json:"x"`
	Y     int      `json:"y"`
	W     int      `json:"w"`
	H     int      `json:"h"`
}

// docRequest creates or replaces a document. An exported document
// (GET's answer) is accepted as is for import: its id, kind, tenant,
// owner and time are ignored.
type docRequest struct {
	Name   string          `json:"name"`
	Shared bool            `json:"shared"`
	Body   json.RawMessage `json:"body"`

	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Tenant  string `json:"tenant"`
	Owner   string `json:"owner"`
	Updated string `json:"updated"`
}

func decodeDoc(kind string, data []byte, tagOK func(string) bool) (docRequest, *apiError) {
	var req docRequest
	if e := decodeJSON(data, &req); e != nil {
		return req, e
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return req, errf(http.StatusBadRequest, "bad_value", "name", "want a name of 1 to 100 characters")
	}
	if len(req.Body) == 0 {
		return req, errf(http.StatusBadRequest, "bad_value", "body", "missing body")
	}
	prefix := func(e *apiError) *apiError {
		if e.Field != "" {
			e.Field = "body." + e.Field
		} else {
			e.Field = "body"
		}
		return e
	}
	switch kind {
	case KindDashboard:
		var b dashboardBody
		if e := decodeJSON(req.Body, &b); e != nil {
			return req, prefix(e)
		}
		if b.Columns < 0 || b.Columns > 48 {
			return req, errf(http.StatusBadRequest, "bad_value", "body.columns", "want 0 (default 12) to 48")
		}
		if len(b.Widgets) > 200 {
			return req, errf(http.StatusBadRequest, "bad_value", "body.widgets", "%d widgets: at most 200", len(b.Widgets))
		}
		for i, wd := range b.Widgets {
			at := fmt.Sprintf("body.widgets[%d].", i)
			switch {
			case !widgetTypes[wd.Type]:
				return req, errf(http.StatusBadRequest, "bad_value", at+"type", "%q: want value, gauge, trend, setpoint, status or alarms", wd.Type)
			case wd.X < 0 || wd.X > 47 || wd.Y < 0 || wd.Y > 1000 || wd.W < 1 || wd.W > 48 || wd.H < 1 || wd.H > 48:
				return req, errf(http.StatusBadRequest, "bad_value", at+"x", "position or size out of the grid")
			case len(wd.Title) > 200 || len(wd.Tags) > 20:
				return req, errf(http.StatusBadRequest, "bad_value", at+"tags", "title over 200 characters or over 20 tags")
			}
			if (wd.Type == "value" || wd.Type == "gauge" || wd.Type == "setpoint") && wd.Tag == "" {
				return req, errf(http.StatusBadRequest, "bad_value", at+"tag", "a %s widget needs a tag", wd.Type)
			}
			for j, n := range append([]string{wd.Tag}, wd.Tags...) {
				if n != "" && !tagOK(n) {
					f := at + "tag"
					if j > 0 {
						f = fmt.Sprintf("%stags[%d]", at, j-1)
					}
					return req, errf(http.StatusBadRequest, "unknown_tag", f, "no tag %q", n)
				}
			}
		}
	case KindRecipe:
		var b recipeBody
		if e := decodeJSON(req.Body, &b); e != nil {
			return req, prefix(e)
		}
		if len(b.Values) == 0 || len(b.Values) > 500 {
			return req, errf(http.StatusBadRequest, "bad_value", "body.values", "want 1 to 500 values")
		}
		seen := map[string]bool{}
		for i, v := range b.Values {
			at := fmt.Sprintf("body.values[%d].", i)
			switch {
			case !tagOK(v.Tag):
				return req, errf(http.StatusBadRequest, "unknown_tag", at+"tag", "no tag %q", v.Tag)
			case seen[v.Tag]:
				return req, errf(http.StatusBadRequest, "bad_value", at+"tag", "tag %q given twice", v.Tag)
			case len(v.Value) == 0 || !json.Valid(v.Value):
				return req, errf(http.StatusBadRequest, "bad_value", at+"value", "missing value")
			}
			seen[v.Tag] = true
		}
		req.Shared = true // recipes belong to the tenant
	}
	return req, nil
}

func docError(err error) *apiError {
	if errors.Is(err, ErrNoDoc) {
		return errf(http.StatusNotFound, "not_found", "id", "%v", err)
	}
	return errf(http.StatusBadGateway, "backend", "", "documents: %v", err)
}

// visible says whether u sees d: shared documents, and u's own.
func visible(d Doc, u User) bool { return d.Owner == "" || d.Owner == u.Name }

// mayEdit says whether u may change a document: their own, or a shared
// one as an engineer.
func mayEdit(kind string, shared bool, u User) bool {
	return u.Role.AtLeast(auth.Engineer) || (!shared && kind == KindDashboard && u.Role.AtLeast(auth.Viewer))
}

func (c *Console) tagOK(r *http.Request) func(string) bool {
	return func(name string) bool {
		_, ok, err := c.backend.Tag(r.Context(), name)
		return err == nil && ok
	}
}

func (c *Console) listDocs(kind string) func(http.ResponseWriter, *http.Request, User) *apiError {
	return func(w http.ResponseWriter, r *http.Request, u User) *apiError {
		docs, err := c.docs.List(r.Context(), kind, u.Tenant)
		if err != nil {
			return docError(err)
		}
		out := []Doc{}
		hasDefault := false
		for _, d := range docs {
			if visible(d, u) {
				out = append(out, d)
				hasDefault = hasDefault || d.ID == defaultDashboard
			}
		}
		if kind == KindDashboard && !hasDefault {
			if d, err := c.defaultDashboard(r); err == nil {
				out = append([]Doc{d}, out...)
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (c *Console) findDoc(r *http.Request, kind string, u User) (Doc, *apiError) {
	id := r.PathValue("id")
	d, err := c.docs.Get(r.Context(), kind, u.Tenant, id)
	if errors.Is(err, ErrNoDoc) && kind == KindDashboard && id == defaultDashboard {
		if d, err = c.defaultDashboard(r); err == nil {
			return d, nil
		}
	}
	if err != nil {
		return d, docError(err)
	}
	if !visible(d, u) {
		return d, errf(http.StatusNotFound, "not_found", "id", "no %s %q", kind, id)
	}
	return d, nil
}

func (c *Console) getDoc(kind string) func(http.ResponseWriter, *http.Request, User) *apiError {
	return func(w http.ResponseWriter, r *http.Request, u User) *apiError {
		d, e := c.findDoc(r, kind, u)
		if e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Console) saveDoc(w http.ResponseWriter, r *http.Request, u User, kind, id string, status int) *apiError {
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	req, e := decodeDoc(kind, data, c.tagOK(r))
	if e != nil {
		return e
	}
	if !mayEdit(kind, req.Shared, u) {
		return errf(http.StatusForbidden, "forbidden", "shared", "only engineers change shared %ss", kind)
	}
	if id == defaultDashboard && !req.Shared {
		return errf(http.StatusBadRequest, "bad_value", "shared", "the default dashboard is shared: save a copy of your own instead")
	}
	d := Doc{ID: id, Kind: kind, Tenant: u.Tenant, Name: req.Name, Updated: c.clk.Now().UTC(), Body: req.Body}
	if !req.Shared {
		d.Owner = u.Name
	}
	if err := c.docs.Put(r.Context(), d); err != nil {
		return docError(err)
	}
	c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: kind + ActionEdit, Tag: d.Name, Result: "ok", Detail: "saved " + kind + " " + id})
	writeJSON(w, status, d)
	return nil
}

func (c *Console) createDoc(kind string) func(http.ResponseWriter, *http.Request, User) *apiError {
	return func(w http.ResponseWriter, r *http.Request, u User) *apiError {
		return c.saveDoc(w, r, u, kind, newID(), http.StatusCreated)
	}
}

func (c *Console) putDoc(kind string) func(http.ResponseWriter, *http.Request, User) *apiError {
	return func(w http.ResponseWriter, r *http.Request, u User) *apiError {
		id := r.PathValue("id")
		old, err := c.docs.Get(r.Context(), kind, u.Tenant, id)
		switch {
		case errors.Is(err, ErrNoDoc):
			if !(kind == KindDashboard && id == defaultDashboard) {
				return docError(err)
			}
		case err != nil:
			return docError(err)
		case !visible(old, u):
			return errf(http.StatusNotFound, "not_found", "id", "no %s %q", kind, id)
		case !mayEdit(kind, old.Owner == "", u):
			return errf(http.StatusForbidden, "forbidden", "id", "only engineers change shared %ss", kind)
		}
		return c.saveDoc(w, r, u, kind, id, http.StatusOK)
	}
}

func (c *Console) deleteDoc(kind string) func(http.ResponseWriter, *http.Request, User) *apiError {
	return func(w http.ResponseWriter, r *http.Request, u User) *apiError {
		id := r.PathValue("id")
		d, err := c.docs.Get(r.Context(), kind, u.Tenant, id)
		if err != nil {
			return docError(err)
		}
		if !visible(d, u) {
			return errf(http.StatusNotFound, "not_found", "id", "no %s %q", kind, id)
		}
		if !mayEdit(kind, d.Owner == "", u) {
			return errf(http.StatusForbidden, "forbidden", "id", "only engineers delete shared %ss", kind)
		}
		if err := c.docs.Delete(r.Context(), kind, u.Tenant, id); err != nil {
			return docError(err)
		}
		c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: kind + ActionEdit, Tag: d.Name, Result: "ok", Detail: "deleted " + kind + " " + id})
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// defaultDashboard is the id of the dashboard made from the point
// database when the tenant has saved none of that id.
const defaultDashboard = "default"

func (c *Console) defaultDashboard(r *http.Request) (Doc, error) {
	tags, err := c.backend.Tags(r.Context())
	if err != nil {
		return Doc{}, err
	}
	b := dashboardBody{Columns: 12}
	x, y := 0, 0
	var trend []string
	var setpoint string
	for i := range tags {
		t := &tags[i]
		numeric := t.EngType().Kind.IsNumeric()
		if t.Writable() && setpoint == "" && numeric {
			setpoint = t.Name
		}
		if numeric && len(trend) < 3 {
			trend = append(trend, t.Name)
		}
		if len(b.Widgets) < 8 {
			typ := "value"
			if numeric && t.Limits.Min != nil && t.Limits.Max != nil {
				typ = "gauge"
			}
			b.Widgets = append(b.Widgets, widget{Type: typ, Tag: t.Name, Title: t.Name, X: x, Y: y, W: 3, H: 2})
			if x += 3; x >= 12 {
				x, y = 0, y+2
			}
		}
	}
	if x > 0 {
		y += 2
	}
	if len(trend) > 0 {
		b.Widgets = append(b.Widgets, widget{Type: "trend", Title: "Trend", Tags: trend, X: 0, Y: y, W: 8, H: 4})
	}
	if setpoint != "" {
		b.Widgets = append(b.Widgets, widget{Type: "setpoint", Title: setpoint, Tag: setpoint, X: 8, Y: y, W: 4, H: 2})
	}
	b.Widgets = append(b.Widgets, widget{Type: "status", Title: "Devices", X: 8, Y: y + 2, W: 4, H: 2},
		widget{Type: "alarms", Title: "Alarms", X: 0, Y: y + 4, W: 12, H: 3})
	body, err := json.Marshal(b)
	if err != nil {
		return Doc{}, err
	}
	return Doc{ID: defaultDashboard, Kind: KindDashboard, Name: "Overview", Body: body}, nil
}
