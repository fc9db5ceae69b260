package failsafe

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/kiln-iot/kiln/supervise"
)

// TreeStatus is the answer of GET /api/status.
type TreeStatus struct {
	Tree    supervise.Status `json:"tree"`
	Modules []ModuleStatus   `json:"modules"`
}

// Handler serves the monitor's HTTP API:
//
//	GET  /healthz                          200 "ok"
//	GET  /api/status                       the supervisor tree and every module (TreeStatus)
//	GET  /api/modules                      every module ([]ModuleStatus)
//	GET  /api/modules/{name}               one module
//	GET  /api/handovers[?module=name]      recent handovers, oldest first
//	POST /api/modules/{name}/reset         bring back a failed module
//	POST /api/modules/{name}/hand-back     give control back to a healthy module now
//
// Errors are JSON {"error": "..."} with 404 for an unknown module, 409 for
// a hand-back to a module that is not healthy or whose fail-safe plan is
// still being retried, and 503 while the monitor is not running.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, TreeStatus{Tree: m.Tree(), Modules: m.Modules()})
	})
	mux.HandleFunc("GET /api/modules", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, m.Modules())
	})
	mux.HandleFunc("GET /api/modules/{name}", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Module(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("GET /api/handovers", func(w http.ResponseWriter, r *http.Request) {
		hs := m.Handovers()
		if name := r.URL.Query().Get("module"); name != "" {
			if _, err := m.Module(name); err != nil {
				writeError(w, err)
				return
			}
			out := hs[:0]
			for _, h := range hs {
				if h.Module == name {
					out = append(out, h)
				}
			}
			hs = out
		}
		if hs == nil {
			hs = []Handover{}
		}
		writeJSON(w, http.StatusOK, hs)
	})
	action := func(fn func(context.Context, string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			if err := fn(ctx, name); err != nil {
				writeError(w, err)
				return
			}
			s, _ := m.Module(name)
			writeJSON(w, http.StatusOK, s)
		}
	}
	mux.HandleFunc("POST /api/modules/{name}/reset", action(m.Reset))
	mux.HandleFunc("POST /api/modules/{name}/hand-back", action(m.HandBack))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknownModule):
		code = http.StatusNotFound
	case errors.Is(err, ErrNotHealthy):
		code = http.StatusConflict
	case errors.Is(err, ErrNotRunning):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
