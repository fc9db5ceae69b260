package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/forward"
)

// maxWriteBody caps a write request's body.
const maxWriteBody = 64 << 10

// Handler returns the HTTP API:
//
//	GET  /api/values                 live values of all tags, with quality and age
//	GET  /api/tags/{name}            one tag: definition, live value, recent writes
//	POST /api/tags/{name}/write      {"value": 870, "who": "alice", "id": "r-1"}
//	                                 with "Authorization: Bearer <token>"
//	GET  /api/audit                  recent write audit records
//	GET  /api/status                 supervisor tree, devices, spool, uplink
//	GET  /api/ha/peer                an HA node's heartbeat: node id, role, lease, configuration hash
//	POST /api/ha/switchover          the active node of an HA pair hands the lease to the other
//	                                 (with "Authorization: Bearer <token>"), audited
//	GET  /healthz                    200 when the spool and a device are up, else 503
//	GET  /metrics                    Prometheus
//	     /console/                   the operator console (package console) and its API
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/values", g.handleValues)
	mux.HandleFunc("GET /api/tags/{name}", g.handleTag)
	mux.HandleFunc("POST /api/tags/{name}/write", g.handleWrite)
	mux.HandleFunc("GET /api/audit", g.handleAudit)
	mux.HandleFunc("GET /api/status", g.handleStatus)
	mux.HandleFunc("GET /api/ha/peer", g.handlePeer)
	mux.HandleFunc("POST /api/ha/switchover", g.handleSwitchover)
	mux.HandleFunc("GET /healthz", g.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", g.handleIndex)
	g.mountConsole(mux)
	if g.cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type apiError struct {
	Error string `json:"error"`
}

// Value is one tag's live value in the API.
type Value struct {
	Tag     string    `json:"tag"`
	Device  string    `json:"device"`
	Value   plc.Value `json:"value"`
	Unit    string    `json:"unit,omitempty"`
	Quality string    `json:"quality"`
	Good    bool      `json:"good"`
	// Time is the source time of the value; AgeMS how old it is.
	Time  time.Time `json:"time,omitzero"`
	AgeMS *int64    `json:"age_ms,omitempty"`
}

func (g *Gateway) value(t *plc.Tag, now time.Time) Value {
	s := g.sample(t.Name)
	v := Value{Tag: t.Name, Device: t.Device, Value: s.Value, Unit: t.Unit, Quality: s.Quality.String(), Good: s.Quality.IsGood(), Time: s.Time}
	if !s.Time.IsZero() {
		age := now.Sub(s.Time).Milliseconds()
		v.AgeMS = &age
	}
	return v
}

func (g *Gateway) handleValues(w http.ResponseWriter, _ *http.Request) {
	now := g.clk.Now()
	out := struct {
		Gateway string    `json:"gateway"`
		Tenant  string    `json:"tenant"`
		Time    time.Time `json:"time"`
		Values  []Value   `json:"values"`
	}{g.cfg.ID, g.cfg.Tenant, now, make([]Value, 0, len(g.db.Tags))}
	for i := range g.db.Tags {
		out.Values = append(out.Values, g.value(&g.db.Tags[i], now))
	}
	writeJSON(w, http.StatusOK, out)
}

// TagInfo is one tag's definition in the API.
type TagInfo struct {
	Name        string       `json:"name"`
	Device      string       `json:"device"`
	Address     string       `json:"address"`
	Type        string       `json:"type"`
	EngType     string       `json:"eng_type"`
	Access      string       `json:"access"`
	Group       string       `json:"group"`
	Unit        string       `json:"unit,omitempty"`
	Description string       `json:"description,omitempty"`
	Min         *float64     `json:"min,omitempty"`
	Max         *float64     `json:"max,omitempty"`
	Deadband    float64      `json:"deadband,omitempty"`
	Scaling     *plc.Scaling `json:"scaling,omitempty"`
}

func (g *Gateway) handleTag(w http.ResponseWriter, r *http.Request) {
	t, ok := g.db.Tag(r.PathValue("name"))
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{"unknown tag " + r.PathValue("name")})
		return
	}
	group := t.Group
	if group == "" {
		group = plc.DefaultGroup
	}
	writeJSON(w, http.StatusOK, struct {
		Tag    TagInfo         `json:"tag"`
		Live   Value           `json:"live"`
		Writes []command.Audit `json:"writes"`
	}{
		TagInfo{Name: t.Name, Device: t.Device, Address: t.Address, Type: t.Type.String(), EngType: t.EngType().String(),
			Access: t.Access.String(), Group: group, Unit: t.Unit, Description: t.Description,
			Min: t.Limits.Min, Max: t.Limits.Max, Deadband: t.Band(), Scaling: t.Scaling},
		g.value(t, g.clk.Now()),
		g.audits.list(t.Name),
	})
}

// writeBody is a write request over HTTP.
type writeBody struct {
	Value json.RawMessage `json:"value"`
	Who   string          `json:"who"`
	ID    string          `json:"id"`
}

// status maps a write's result code to an HTTP status.
var status = map[string]int{
	command.CodeOK:           http.StatusOK,
	command.CodeUnauthorized: http.StatusUnauthorized,
	command.CodeExpired:      http.StatusRequestTimeout,
	command.CodeUnknownTag:   http.StatusNotFound,
	command.CodeReadOnly:     http.StatusForbidden,
	command.CodeBadValue:     http.StatusBadRequest,
	command.CodeOutOfLimits:  http.StatusUnprocessableEntity,
	command.CodeVerifyFailed: http.StatusBadGateway,
	command.CodeDeviceError:  http.StatusBadGateway,

	command.CodeAuditUnavailable: http.StatusServiceUnavailable,
	// The standby of an HA pair: the request belongs at the active node.
	command.CodeFenced: http.StatusConflict,
}

// decodeWriteBody reads a write request's body: one JSON object of at
// most maxWriteBody bytes, nothing after it. It returns the HTTP status
// and message of a refusal, or 0.
func decodeWriteBody(w http.ResponseWriter, r *http.Request, body *writeBody) (int, string) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxWriteBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(body)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if terr == nil {
				return http.StatusBadRequest, fmt.Sprintf("body: data after the JSON object at byte %d: send one {\"value\": …}", dec.InputOffset())
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than the limit of %d bytes", tooLarge.Limit)
	default:
		return http.StatusBadRequest, "body: want {\"value\": …}: " + err.Error()
	}
	if len(body.Value) == 0 {
		return http.StatusBadRequest, "body: missing value"
	}
	return 0, ""
}

func (g *Gateway) handleWrite(w http.ResponseWriter, r *http.Request) {
	var body writeBody
	if code, msg := decodeWriteBody(w, r, &body); code != 0 {
		writeJSON(w, code, apiError{msg})
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a := g.write(r.Context(), channelHTTP, body.ID, tok, body.Who, r.PathValue("name"), body.Value)
	code, ok := status[a.Code]
	if !ok {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, a)
}

func (g *Gateway) handleAudit(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.audits.list(""))
}

// Status is the gateway's state in the API.
type Status struct {
	Gateway    string            `json:"gateway"`
	Tenant     string            `json:"tenant"`
	Uptime     string            `json:"uptime"`
	Ready      bool              `json:"ready"`
	Problems   []string          `json:"problems,omitempty"`
	Devices    []deviceState     `json:"devices"`
	Stats      Stats             `json:"stats"`
	Spool      spoolStatus       `json:"spool"`
	Transport  string            `json:"transport"`
	Forwarder  *forward.Status   `json:"forwarder,omitempty"`
	Uplink     string            `json:"uplink,omitempty"`
	Commands   *bool             `json:"commands_subscribed,omitempty"`
	Poller     []groupStatus     `json:"poller"`
	Supervisor supervise.Status  `json:"supervisor"`
	Endpoints  map[string]string `json:"endpoints,omitempty"`
	HA         *haStatus         `json:"ha,omitempty"`
}

func (g *Gateway) status() Status {
	ready, problems := g.ready()
	st := Status{Gateway: g.cfg.ID, Tenant: g.cfg.Tenant, Uptime: g.clk.Now().Sub(g.started).Round(time.Second).String(),
		Ready: ready, Problems: problems, Devices: g.devices(), Stats: g.Stats(), Spool: newSpoolStatus(g.sp.Stats(), g.clk.Now()),
		Transport: g.cfg.Transport.Kind, Poller: newGroupStatus(g.poller.Stats()), Supervisor: g.sup.Status()}
	if f, ok := g.ForwarderStatus(); ok {
		st.Forwarder = &f
	}
	if g.pub != nil {
		st.Uplink = "connected"
		if err := errors.Join(g.pub.Health(), g.apub.Health()); err != nil {
			st.Uplink = err.Error()
		}
		c := g.commandsSubscribed()
		st.Commands = &c
	}
	if g.ha != nil {
		st.HA = g.ha.status()
	}
	if g.plant != nil {
		st.Endpoints = map[string]string{"plant_s7": g.plant.S7Addr(), "plant_opcua": g.plant.OPCUAEndpoint()}
	}
	return st
}

func (g *Gateway) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.status())
}

// commandsSubscribed reports whether the command topic is subscribed.
func (g *Gateway) commandsSubscribed() bool {
	s := g.cmdSub.Load()
	return s != nil && s.Health() == nil
}

// ready reports whether the gateway can do its job: the spool takes
// appends and at least one device reads good.
func (g *Gateway) ready() (bool, []string) {
	var problems []string
	if err := g.enc.Health(); err != nil {
		problems = append(problems, "spool: "+err.Error())
	}
	up := false
	for _, d := range g.devices() {
		if d.Up {
			up = true
		} else {
			problems = append(problems, "device "+d.Name+" down: "+d.Problem)
		}
	}
	if !up {
		problems = append(problems, "no device up")
	}
	var pair []string
	if g.ha != nil {
		pair = g.ha.problems()
		problems = append(problems, pair...)
	}
	return g.enc.Health() == nil && up && len(pair) == 0, problems
}

func (g *Gateway) handleHealth(w http.ResponseWriter, _ *http.Request) {
	ok, problems := g.ready()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems,omitempty"`
	}{ok, problems})
}

func (g *Gateway) handleIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "kiln edge gateway "+g.cfg.ID+"\n\n"+
		"GET  /console/                 the operator console\n"+
		"GET  /api/values               live values\n"+
		"GET  /api/tags/{name}          one tag\n"+
		"POST /api/tags/{name}/write    {\"value\": …} with Authorization: Bearer <token>\n"+
		"GET  /api/audit                recent writes\n"+
		"GET  /api/status               supervisor tree, devices, spool, uplink\n"+
		"GET  /api/ha/peer              HA heartbeat (a pair's node)\n"+
		"POST /api/ha/switchover        hand the lease to the other node, with the token\n"+
		"GET  /healthz                  readiness\n"+
		"GET  /metrics                  Prometheus\n")
}
