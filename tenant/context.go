package tenant

import (
	"context"
	"net/http"
	"strings"
)

type ctxKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the tenant ctx carries, if any.
func FromContext(ctx context.Context) (*Tenant, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Tenant)
	return t, ok && t != nil
}

// Middleware authenticates each request by its "Authorization: Bearer
// <token>" header and passes it on with the tenant in its context
// (FromContext); requests without a valid token get 401.
func (r *Registry) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kiln"`)
			http.Error(w, "missing bearer token", http.StatusUnauthorized)
			return
		}
		t, _, err := r.Authenticate(strings.TrimSpace(tok))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kiln", error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req.WithContext(NewContext(req.Context(), t)))
	})
}
