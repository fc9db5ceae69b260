package console

import (
	_ "embed"
	"net/http"
)

// openAPISpec documents the API; TestOpenAPIMatchesRoutes keeps it in step
// with the routes.
//
//go:embed openapi.json
var openAPISpec []byte

func (c *Console) openAPI(w http.ResponseWriter, _ *http.Request, _ User) *apiError {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPISpec)
	return nil
}
