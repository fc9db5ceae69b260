package console

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/plc"
)

func (c *Console) apiRoutes() []route {
	return []route{
		{"GET", "/api/openapi.json", auth.RoleNone, c.openAPI},
		{"POST", "/api/login", auth.RoleNone, c.login},
		{"POST", "/api/logout", auth.Viewer, c.logout},
		{"GET", "/api/session", auth.Viewer, c.session},
		{"GET", "/api/tags", auth.Viewer, c.listTags},
		{"GET", "/api/tags/{name...}", auth.Viewer, c.oneTag},
		{"GET", "/api/tree", auth.Viewer, c.tree},
		{"GET", "/api/values", auth.Viewer, c.values},
		{"GET", "/api/history", auth.Viewer, c.history},
		{"GET", "/api/stream", auth.Viewer, c.stream},
		{"POST", "/api/writes", auth.Operator, c.write},
		{"GET", "/api/recipes", auth.Viewer, c.listDocs(KindRecipe)},
		{"POST", "/api/recipes", auth.Engineer, c.createDoc(KindRecipe)},
		{"GET", "/api/recipes/{id}", auth.Viewer, c.getDoc(KindRecipe)},
		{"PUT", "/api/recipes/{id}", auth.Engineer, c.putDoc(KindRecipe)},
		{"DELETE", "/api/recipes/{id}", auth.Engineer, c.deleteDoc(KindRecipe)},
		{"POST", "/api/recipes/{id}/run", auth.Engineer, c.runRecipe},
		{"GET", "/api/audit", auth.Viewer, c.audit},
		{"GET", "/api/audit.csv", auth.Viewer, c.auditCSV},
		{"GET", "/api/dashboards", auth.Viewer, c.listDocs(KindDashboard)},
		{"POST", "/api/dashboards", auth.Viewer, c.createDoc(KindDashboard)},
		{"GET", "/api/dashboards/{id}", auth.Viewer, c.getDoc(KindDashboard)},
		{"PUT", "/api/dashboards/{id}", auth.Viewer, c.putDoc(KindDashboard)},
		{"DELETE", "/api/dashboards/{id}", auth.Viewer, c.deleteDoc(KindDashboard)},
		{"GET", "/api/users", auth.Admin, c.listUsers},
		{"POST", "/api/users", auth.Admin, c.createUser},
		{"PUT", "/api/users/{name}", auth.Admin, c.updateUser},
		{"DELETE", "/api/users/{name}", auth.Admin, c.deleteUser},
		{"GET", "/api/status", auth.Viewer, c.status},
	}
}

// --- sessions

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type sessionInfo struct {
	User   string    `json:"user"`
	Role   auth.Role `json:"role"`
	Tenant string    `json:"tenant,omitempty"`
	CSRF   string    `json:"csrf,omitempty"`
	Title  string    `json:"title"`
}

func decodeLogin(data []byte) (loginRequest, *apiError) {
	var req loginRequest
	if e := decodeJSON(data, &req); e != nil {
		return req, e
	}
	if req.User == "" || len(req.User) > 64 {
		return req, errf(http.StatusBadRequest, "bad_value", "user", "want a user name of 1 to 64 bytes")
	}
	if len(req.Password) > 1024 {
		return req, errf(http.StatusBadRequest, "bad_value", "password", "password over 1024 bytes")
	}
	return req, nil
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	req, e := decodeLogin(data)
	if e != nil {
		return e
	}
	s, err := c.auth.Login(r.Context(), req.User, req.Password, remoteHost(r))
	entry := AuditEntry{Who: req.User, Channel: "console", Action: ActionLogin, Result: "ok", Detail: "from " + remoteHost(r)}
	if err != nil {
		entry.Result = err.Error()
	} else {
		entry.Tenant = s.Tenant
	}
	c.record(r.Context(), entry)
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, rl.Until.Sub(c.clk.Now()).Seconds()))))
		return errf(http.StatusTooManyRequests, "rate_limited", "", "%v", err)
	case errors.Is(err, auth.ErrBadCredentials):
		return errf(http.StatusUnauthorized, "bad_credentials", "password", "wrong user name or password")
	case err != nil:
		return errf(http.StatusBadGateway, "backend", "", "login: %v", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.ID, Path: "/", Expires: s.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.cfg.SecureCookie,
	})
	writeJSON(w, http.StatusOK, sessionInfo{User: s.User, Role: s.Role, Tenant: s.Tenant, CSRF: s.CSRF, Title: c.cfg.Title})
	return nil
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, u User) *apiError {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		_ = c.auth.Logout(r.Context(), ck.Value)
	}
	c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: ActionLogout, Result: "ok"})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.cfg.SecureCookie})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Console) session(w http.ResponseWriter, r *http.Request, u User) *apiError {
	info := sessionInfo{User: u.Name, Role: u.Role, Tenant: u.Tenant, Title: c.cfg.Title}
	if ck, err := r.Cookie(sessionCookie); err == nil && u.Channel == "console" {
		if s, ok := c.auth.Session(r.Context(), ck.Value); ok {
			info.CSRF = s.CSRF
		}
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// --- tags

// tagInfo is a tag as the API shows it.
type tagInfo struct {
	Name        string       `json:"name"`
	Device      string       `json:"device"`
	Group       string       `json:"group"`
	Address     string       `json:"address"`
	Type        string       `json:"type"`
	Access      string       `json:"access"`
	Unit        string       `json:"unit,omitempty"`
	Description string       `json:"description,omitempty"`
	Min         *float64     `json:"min,omitempty"`
	Max         *float64     `json:"max,omitempty"`
	Scaling     *plc.Scaling `json:"scaling,omitempty"`
	WriteRole   string       `json:"write_role"`
	Critical    bool         `json:"critical,omitempty"`
	// CanWrite says whether this user may write the tag; WhyNot says why
	// not.
	CanWrite bool   `json:"can_write"`
	WhyNot   string `json:"why_not,omitempty"`
	// StaleAfterMS: a value not reported for that long is stale (0:
	// never, the group reports only changes).
	StaleAfterMS int64 `json:"stale_after_ms"`
}

// mayWrite says whether role may write t, and why not.
func mayWrite(role auth.Role, t *plc.Tag) (bool, string) {
	switch {
	case !t.Writable():
		return false, "read-only tag"
	case role.AtLeast(auth.Engineer):
		return true, ""
	case role.AtLeast(auth.Operator) && t.MinWriteRole() == plc.WriteOperator:
		return true, ""
	}
	return false, "the " + t.MinWriteRole() + " role may write this tag; you are " + role.String()
}

func (c *Console) staleness(r *http.Request) map[string]int64 {
	st, err := c.backend.Status(r.Context())
	out := map[string]int64{}
	if err != nil {
		return out
	}
	for _, g := range st.Groups {
		if g.Refresh > 0 {
			out[g.Name] = (2*g.Refresh + g.Rate).Milliseconds()
		}
	}
	return out
}

func info(t *plc.Tag, u User, stale map[string]int64) tagInfo {
	ok, why := mayWrite(u.Role, t)
	group := t.Group
	if group == "" {
		group = plc.DefaultGroup
	}
	return tagInfo{
		Name: t.Name, Device: t.Device, Group: group, Address: t.Address, Type: t.EngType().String(),
		Access: t.Access.String(), Unit: t.Unit, Description: t.Description, Min: t.Limits.Min, Max: t.Limits.Max,
		Scaling: t.Scaling, WriteRole: t.MinWriteRole(), Critical: t.Critical, CanWrite: ok, WhyNot: why,
		StaleAfterMS: stale[group],
	}
}

type tagList struct {
	Total int       `json:"total"`
	Tags  []tagInfo `json:"tags"`
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, errf(http.StatusBadRequest, "bad_value", name, "%q: want a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func (c *Console) listTags(w http.ResponseWriter, r *http.Request, u User) *apiError {
	q := r.URL.Query()
	offset, e := intParam(r, "offset", 0, 0, 1<<30)
	if e != nil {
		return e
	}
	limit, e := intParam(r, "limit", 1<<30, 1, 1<<30)
	if e != nil {
		return e
	}
	tags, err := c.backend.Tags(r.Context())
	if err != nil {
		return backendError("tags", err)
	}
	text := strings.ToLower(q.Get("q"))
	device, group, prefix := q.Get("device"), q.Get("group"), q.Get("prefix")
	stale := c.staleness(r)
	out := tagList{Tags: []tagInfo{}}
	for i := range tags {
		t := &tags[i]
		g := t.Group
		if g == "" {
			g = plc.DefaultGroup
		}
		if (device != "" && t.Device != device) || (group != "" && g != group) || !strings.HasPrefix(t.Name, prefix) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(t.Name), text) && !strings.Contains(strings.ToLower(t.Description), text) {
			continue
		}
		out.Total++
		if out.Total > offset && len(out.Tags) < limit {
			out.Tags = append(out.Tags, info(t, u, stale))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Console) tag(r *http.Request, name string) (plc.Tag, *apiError) {
	if name == "" {
		return plc.Tag{}, errf(http.StatusBadRequest, "bad_value", "tag", "no tag named")
	}
	t, ok, err := c.backend.Tag(r.Context(), name)
	if err != nil {
		return t, backendError("tag", err)
	}
	if !ok {
		return t, errf(http.StatusNotFound, "unknown_tag", "tag", "no tag %q", name)
	}
	return t, nil
}

func (c *Console) oneTag(w http.ResponseWriter, r *http.Request, u User) *apiError {
	t, e := c.tag(r, r.PathValue("name"))
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, info(&t, u, c.staleness(r)))
	return nil
}

// treeNode is one node of the tag tree: a device, a scan group, a part
// of dotted names, or a tag (Tag set).
type treeNode struct {
	Name     string      `json:"name"`
	Kind     string      `json:"kind"` // device, group, folder, tag
	Tag      string      `json:"tag,omitempty"`
	Count    int         `json:"count"`
	Children []*treeNode `json:"children,omitempty"`
}

func (n *treeNode) child(name, kind string) *treeNode {
	for _, ch := range n.Children {
		if ch.Name == name && ch.Kind == kind {
			return ch
		}
	}
	ch := &treeNode{Name: name, Kind: kind}
	n.Children = append(n.Children, ch)
	return ch
}

func (c *Console) tree(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	tags, err := c.backend.Tags(r.Context())
	if err != nil {
		return backendError("tags", err)
	}
	root := &treeNode{Name: "", Kind: "root"}
	for i := range tags {
		t := &tags[i]
		g := t.Group
		if g == "" {
			g = plc.DefaultGroup
		}
		n := root.child(t.Device, "device")
		n.Count++
		n = n.child(g, "group")
		n.Count++
		parts := strings.Split(t.Name, ".")
		for _, p := range parts[:len(parts)-1] {
			n = n.child(p, "folder")
			n.Count++
		}
		leaf := n.child(parts[len(parts)-1], "tag")
		leaf.Tag, leaf.Count = t.Name, 1
	}
	root.Count = len(tags)
	writeJSON(w, http.StatusOK, root)
	return nil
}

// --- values

// sampleJSON is a sample as the API and the stream send it.
type sampleJSON struct {
	Tag    string    `json:"tag"`
	Value  plc.Value `json:"v"`
	Status string    `json:"q"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Time in milliseconds since 1970.
	Time int64 `json:"t"`
}

func toJSON(s plc.Sample) sampleJSON {
	out := sampleJSON{Tag: s.Tag, Value: s.Value, Status: s.Quality.Status.String()}
	if !s.Quality.IsGood() {
		out.Reason, out.Detail = s.Quality.Reason.String(), s.Quality.Detail
	}
	if !s.Time.IsZero() {
		out.Time = s.Time.UnixMilli()
	}
	return out
}

// tagParams returns the tags named by repeated ?tag= parameters, each
// checked to exist; none means every tag when all is true.
func (c *Console) tagParams(r *http.Request, all bool, maxTags int) ([]string, *apiError) {
	names := r.URL.Query()["tag"]
	if len(names) == 0 {
		if !all {
			return nil, errf(http.StatusBadRequest, "bad_value", "tag", "name at least one tag (?tag=…)")
		}
		tags, err := c.backend.Tags(r.Context())
		if err != nil {
			return nil, backendError("tags", err)
		}
		names = make([]string, len(tags))
		for i := range tags {
			names[i] = tags[i].Name
		}
		return names, nil
	}
	if len(names) > maxTags {
		return nil, errf(http.StatusBadRequest, "bad_value", "tag", "%d tags: at most %d", len(names), maxTags)
	}
	for _, n := range names {
		if _, e := c.tag(r, n); e != nil {
			return nil, e
		}
	}
	return names, nil
}

func (c *Console) values(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	names, e := c.tagParams(r, true, 10000)
	if e != nil {
		return e
	}
	ss, err := c.backend.Latest(r.Context(), names)
	if err != nil {
		return backendError("latest values", err)
	}
	out := make([]sampleJSON, len(ss))
	for i, s := range ss {
		out[i] = toJSON(s)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- history

// History bounds.
const (
	maxHistoryTags    = 20
	maxBuckets        = 5000
	maxRawSamples     = 20000
	maxHistorySpan    = 400 * 24 * time.Hour
	defaultHistoryAgo = time.Hour
)

type pointJSON struct {
	Time   int64     `json:"t"`
	Value  plc.Value `json:"v"`
	Status string    `json:"q"`
}

type bucketJSON struct {
	Start int64   `json:"t0"`
	End   int64   `json:"t1"`
	Count int     `json:"n"`
	Bad   int     `json:"bad"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
	Last  float64 `json:"last"`
}

type seriesJSON struct {
	Tag     string       `json:"tag"`
	Points  []pointJSON  `json:"points,omitempty"`
	Buckets []bucketJSON `json:"buckets,omitempty"`
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 && ms < 1<<45 {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, errf(http.StatusBadRequest, "bad_value", name, "%q: want RFC 3339 time or milliseconds since 1970", s)
	}
	return t, nil
}

func (c *Console) history(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	names, e := c.tagParams(r, false, maxHistoryTags)
	if e != nil {
		return e
	}
	now := c.clk.Now()
	to, e := timeParam(r, "to", now)
	if e != nil {
		return e
	}
	from, e := timeParam(r, "from", to.Add(-defaultHistoryAgo))
	if e != nil {
		return e
	}
	if !from.Before(to) {
		return errf(http.StatusBadRequest, "bad_value", "from", "from must be before to")
	}
	if to.Sub(from) > maxHistorySpan {
		return errf(http.StatusBadRequest, "bad_value", "from", "span over %v", maxHistorySpan)
	}
	buckets, e := intParam(r, "buckets", 0, 0, maxBuckets)
	if e != nil {
		return e
	}
	series, err := c.backend.History(r.Context(), HistoryQuery{Tags: names, From: from, To: to, Buckets: buckets, Limit: maxRawSamples})
	if err != nil {
		return backendError("history", err)
	}
	out := make([]seriesJSON, len(series))
	for i, s := range series {
		out[i] = seriesJSON{Tag: s.Tag, Points: []pointJSON{}}
		for _, p := range s.Raw {
			out[i].Points = append(out[i].Points, pointJSON{Time: p.Time.UnixMilli(), Value: p.Value, Status: p.Quality.Status.String()})
		}
		for _, b := range s.Buckets {
			out[i].Buckets = append(out[i].Buckets, bucketJSON{Start: b.Start.UnixMilli(), End: b.End.UnixMilli(), Count: b.Count, Bad: b.Bad, Min: finite(b.Min), Max: finite(b.Max), Mean: finite(b.Mean), Last: finite(b.Last)})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// finite keeps a NaN or infinity (a bucket without good samples) out of
// JSON, which cannot carry them.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// --- status

func (c *Console) status(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	st, err := c.backend.Status(r.Context())
	if err != nil {
		return backendError("status", err)
	}
	if st.Devices == nil {
		st.Devices = []DeviceStatus{}
	}
	if st.Groups == nil {
		st.Groups = []GroupStatus{}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
