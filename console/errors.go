package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
)

// apiError is the JSON body of every error answer:
// {"code":"unknown_tag","message":"…","field":"tag"}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, field, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"code":"internal","message":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// decodeJSON decodes exactly one JSON object into dst (a pointer to a
// struct), refusing unknown fields, and names the field a wrong type was
// given for.
func decodeJSON(data []byte, dst any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errf(http.StatusBadRequest, "bad_json", "", "more than one JSON value in the body")
	}
	if obj == nil {
		return errf(http.StatusBadRequest, "bad_json", "", "want a JSON object, got null")
	}
	known := jsonFields(reflect.TypeOf(dst).Elem())
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return errf(http.StatusBadRequest, "unknown_field", k, "unknown field %q", k)
		}
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonFields returns the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}

func jsonError(err error) *apiError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return errf(http.StatusBadRequest, "bad_json", "", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return errf(http.StatusBadRequest, "bad_type", te.Field, "field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return errf(http.StatusBadRequest, "bad_json", "", "empty body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errf(http.StatusBadRequest, "bad_json", "", "malformed JSON: the body ends early")
	}
	return errf(http.StatusBadRequest, "bad_json", "", "malformed JSON: %v", err)
}
