package console

import (
	"encoding/csv"
	"net/http"
	"time"
)

const maxAudit = 10000

func (c *Console) auditQuery(r *http.Request) (AuditQuery, *apiError) {
	q := r.URL.Query()
	limit, e := intParam(r, "limit", 500, 1, maxAudit)
	if e != nil {
		return AuditQuery{}, e
	}
	from, e := timeParam(r, "from", time.Time{})
	if e != nil {
		return AuditQuery{}, e
	}
	to, e := timeParam(r, "to", time.Time{})
	if e != nil {
		return AuditQuery{}, e
	}
	return AuditQuery{Tag: q.Get("tag"), Who: q.Get("who"), Action: q.Get("action"), From: from, To: to, Limit: limit}, nil
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	q, e := c.auditQuery(r)
	if e != nil {
		return e
	}
	entries, err := c.backend.Audit(r.Context(), q)
	if err != nil {
		return backendError("audit", err)
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
	return nil
}

func (c *Console) auditCSV(w http.ResponseWriter, r *http.Request, _ User) *apiError {
	q, e := c.auditQuery(r)
	if e != nil {
		return e
	}
	entries, err := c.backend.Audit(r.Context(), q)
	if err != nil {
		return backendError("audit", err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"time", "who", "tenant", "channel", "action", "tag", "old", "new", "read_back", "result", "detail"})
	for _, a := range entries {
		_ = cw.Write([]string{a.Time.UTC().Format(time.RFC3339Nano), csvSafe(a.Who), csvSafe(a.Tenant), a.Channel, a.Action, csvSafe(a.Tag), csvSafe(a.Old), csvSafe(a.New), csvSafe(a.ReadBack), csvSafe(a.Result), csvSafe(a.Detail)})
	}
	cw.Flush()
	return nil
}

// csvSafe keeps a spreadsheet from running a cell as a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
