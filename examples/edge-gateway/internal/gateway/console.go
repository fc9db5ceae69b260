package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/command"
)

// ConsolePath is where the gateway serves the console.
const ConsolePath = "/console/"

// DemoUsers are the console's users in demo mode, created when the users
// file has none; each has the password DemoPassword.
var DemoUsers = []auth.User{
	{Name: "viewer", Role: auth.Viewer},
	{Name: "operator", Role: auth.Operator},
	{Name: "engineer", Role: auth.Engineer},
	{Name: "admin", Role: auth.Admin},
}

// DemoPassword is the demo users' password. A gateway that runs the demo
// is not meant to be reachable from outside the machine or the lab.
const DemoPassword = "kiln-demo"

// maxConsoleAudit bounds the console's own audit entries (logins,
// recipes, dashboards, users) kept in memory.
const maxConsoleAudit = 10000

// newConsole builds the console over the gateway: users in
// data_dir/users.yaml, dashboards and recipes in data_dir/console.json,
// the gateway's token as an engineer's API token.
func (g *Gateway) newConsole(ctx context.Context) (*console.Console, error) {
	users, err := auth.OpenFile(filepath.Join(g.cfg.DataDir, "users.yaml"))
	if err != nil {
		return nil, err
	}
	if list, err := users.List(ctx); err == nil && len(list) == 0 && g.plant != nil {
		h, err := auth.HashPassword(DemoPassword)
		if err != nil {
			return nil, err
		}
		for _, u := range DemoUsers {
			u.PasswordHash = h
			if err := users.Put(ctx, u); err != nil {
				return nil, err
			}
		}
	}
	g.consoleUsers = users
	var acfg auth.Config
	if g.cfg.Token != "" {
		acfg.Tokens = []auth.Token{{Name: "gateway-token", Role: auth.Engineer, SHA256: auth.HashToken(g.cfg.Token)}}
	}
	am, err := auth.New(acfg, users, auth.WithClock(g.clk), auth.WithLogger(g.log.Named("auth")))
	if err != nil {
		return nil, err
	}
	docs, err := console.OpenDocs(filepath.Join(g.cfg.DataDir, "console.json"))
	if err != nil {
		return nil, err
	}
	return console.New(console.Config{Title: "kiln gateway " + g.cfg.ID}, &consoleBackend{g: g}, am, docs,
		console.WithLogger(g.log.Named("console")), console.WithClock(g.clk))
}

// ConsoleURL returns the console's address.
func (g *Gateway) ConsoleURL() string { return "http://" + g.Addr() + ConsolePath }

// DemoLogin returns the demo user who may tune the plant, when the demo
// runs and that user still has the demo password.
func (g *Gateway) DemoLogin() (user string, ok bool) {
	if g.plant == nil || g.consoleUsers == nil {
		return "", false
	}
	u, err := g.consoleUsers.User(context.Background(), "engineer")
	if err != nil {
		return "", false
	}
	ok, _ = auth.CheckPassword(u.PasswordHash, DemoPassword)
	return u.Name, ok
}

// mountConsole serves the console under ConsolePath.
func (g *Gateway) mountConsole(mux *http.ServeMux) {
	mux.Handle(ConsolePath, http.StripPrefix(ConsolePath[:len(ConsolePath)-1], g.console))
	mux.Handle("GET "+ConsolePath[:len(ConsolePath)-1], http.RedirectHandler(ConsolePath, http.StatusMovedPermanently))
}

// consoleBackend is the console's view of the gateway: its point
// database, latest values, writes, audit records and status.
type consoleBackend struct {
	g *Gateway

	mu    sync.Mutex
	audit []console.AuditEntry // the console's own entries
}

func (b *consoleBackend) Tags(context.Context) ([]plc.Tag, error) { return b.g.db.Tags, nil }

func (b *consoleBackend) Tag(_ context.Context, name string) (plc.Tag, bool, error) {
	t, ok := b.g.db.Tag(name)
	if !ok {
		return plc.Tag{}, false, nil
	}
	return *t, true, nil
}

func (b *consoleBackend) Latest(_ context.Context, names []string) ([]plc.Sample, error) {
	out := make([]plc.Sample, len(names))
	for i, n := range names {
		if _, ok := b.g.db.Tag(n); !ok {
			return nil, fmt.Errorf("%w %q", plc.ErrUnknownTag, n)
		}
		out[i] = b.g.sample(n)
		out[i].Tag = n
	}
	return out, nil
}

func (b *consoleBackend) Watch(ctx context.Context, fn func([]plc.Sample)) error {
	return b.g.hub.Watch(ctx, fn)
}

// History reads the embedded store; with the Pulsar transport the
// gateway keeps no history and answers none.
func (b *consoleBackend) History(ctx context.Context, q console.HistoryQuery) ([]console.Series, error) {
	out := make([]console.Series, len(q.Tags))
	for i, tag := range q.Tags {
		out[i].Tag = tag
		if b.g.store == nil {
			if q.Buckets > 0 {
				out[i].Buckets = console.Aggregate(nil, q.From, q.To, q.Buckets)
			}
			continue
		}
		limit := q.Limit
		if q.Buckets > 0 {
			limit = 500000 // a day of 1 s samples five times over
		}
		ss, err := b.g.store.Range(ctx, b.g.cfg.Tenant, tag, q.From, q.To, limit)
		if err != nil {
			return nil, err
		}
		if q.Buckets > 0 {
			out[i].Buckets = console.Aggregate(ss, q.From, q.To, q.Buckets)
		} else {
			out[i].Raw = ss
		}
	}
	return out, nil
}

// Write runs a console user's write through the gateway's own checks
// (the Writer's, with the role checked again by authorize), the device,
// the read-back and the audit, as an HTTP or command write is.
func (b *consoleBackend) Write(ctx context.Context, tag string, value json.RawMessage) (plc.Value, error) {
	g := b.g
	u, _ := console.UserFrom(ctx)
	req := &request{channel: u.Channel}
	if err := g.enc.Health(); err != nil {
		err = fmt.Errorf("%w: the spool refuses appends: %v", command.ErrAuditUnavailable, err)
		rec := plc.AuditRecord{Time: g.clk.Now(), Principal: plc.Principal{Who: u.Name, Tenant: g.cfg.Tenant}, Tag: tag, Requested: string(value), Err: err}
		_ = g.audits.WriteAudit(context.WithValue(ctx, requestKey{}, req), rec)
		return plc.Value{}, err
	}
	ctx = plc.WithPrincipal(context.WithValue(ctx, requestKey{}, req), plc.Principal{Who: u.Name, Tenant: g.cfg.Tenant})
	err := g.writer.WriteJSON(ctx, tag, value)
	var rb plc.Value
	if t, ok := g.db.Tag(tag); ok && req.audit != nil && req.audit.ReadBack != nil {
		rb, _ = plc.ParseJSONValue(req.audit.ReadBack, t.EngType())
	}
	return rb, err
}

// mayWrite is the gateway's own check of a console user's role.
func mayWrite(u console.User, t *plc.Tag) error {
	if u.Role.AtLeast(auth.Engineer) || (u.Role.AtLeast(auth.Operator) && t.MinWriteRole() == plc.WriteOperator) {
		return nil
	}
	return fmt.Errorf("%w: %s may not write %q (%s role needed)", console.ErrForbidden, u.Role, t.Name, t.MinWriteRole())
}

// Audit merges the gateway's write records with the console's entries,
// newest first.
func (b *consoleBackend) Audit(_ context.Context, q console.AuditQuery) ([]console.AuditEntry, error) {
	var all []console.AuditEntry
	for _, a := range b.g.audits.list("") {
		e := console.AuditEntry{Time: a.Time, Who: a.Who, Tenant: a.Tenant, Channel: a.Channel, Action: console.ActionWrite, Tag: a.Tag,
			Old: string(a.Old), New: string(a.New), ReadBack: string(a.ReadBack), Result: a.Result}
		if e.New == "" {
			e.New = a.Requested
		}
		all = append(all, e)
	}
	b.mu.Lock()
	all = append(all, b.audit...)
	b.mu.Unlock()
	slices.SortStableFunc(all, func(x, y console.AuditEntry) int { return y.Time.Compare(x.Time) })
	out := []console.AuditEntry{}
	for _, e := range all {
		if (q.Tag != "" && e.Tag != q.Tag) || (q.Who != "" && e.Who != q.Who) || (q.Action != "" && e.Action != q.Action) ||
			(!q.From.IsZero() && e.Time.Before(q.From)) || (!q.To.IsZero() && !e.Time.Before(q.To)) {
			continue
		}
		if out = append(out, e); q.Limit > 0 && len(out) >= q.Limit {
			break
		}
	}
	return out, nil
}

func (b *consoleBackend) RecordAudit(_ context.Context, e console.AuditEntry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.Tenant == "" {
		e.Tenant = b.g.cfg.Tenant
	}
	b.audit = append(b.audit, e)
	if len(b.audit) > maxConsoleAudit {
		b.audit = slices.Delete(b.audit, 0, len(b.audit)-maxConsoleAudit)
	}
	b.g.log.Info("console: " + e.Action + " " + e.Who + ": " + e.Result)
	return nil
}

func (b *consoleBackend) Status(context.Context) (console.Status, error) {
	g := b.g
	var st console.Status
	for _, d := range g.devices() {
		st.Devices = append(st.Devices, console.DeviceStatus{Name: d.Name, Driver: d.Driver, Endpoint: d.Endpoint, Up: d.Up, LastError: d.Problem})
	}
	for _, gs := range g.poller.Stats() {
		sg, _ := g.db.Group(gs.Group)
		st.Groups = append(st.Groups, console.GroupStatus{Name: gs.Group, Rate: gs.Rate, Scans: gs.Scans, Overruns: gs.Overruns, Errors: gs.ReadErrors, Refresh: sg.RefreshInterval()})
	}
	ss := g.sp.Stats()
	sp := &console.SpoolStatus{Depth: ss.Records}
	if !ss.Oldest.IsZero() {
		sp.OldestAge = g.clk.Now().Sub(ss.Oldest)
	}
	st.Spool = sp
	if fs, ok := g.ForwarderStatus(); ok {
		st.Uplink = &console.UplinkStatus{State: "breaker " + fs.Breaker}
	} else {
		st.Uplink = &console.UplinkStatus{State: "embedded store (no uplink)"}
	}
	root := &console.SupervisorNode{Name: "edge-gateway", State: "running"}
	for _, s := range g.specs() {
		root.Children = append(root.Children, console.SupervisorNode{Name: s.Name, State: "supervised"})
	}
	st.Supervisor = root
	return st, nil
}

var _ console.Backend = (*consoleBackend)(nil)
