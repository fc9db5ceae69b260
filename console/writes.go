package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kiln-iot/kiln/plc"
)

// Write outcomes.
const (
	WriteConfirmed = "confirmed" // written and read back
	WriteRefused   = "refused"   // a check refused it; nothing reached the device
	WriteFailed    = "failed"    // the device or the read-back failed
	WriteTimedOut  = "timed_out" // no answer within Config.WriteTimeout
)

type writeRequest struct {
	Tag   string          `json:"tag"`
	Value json.RawMessage `json:"value"`
	// Confirm is the second confirmation a critical tag needs.
	Confirm bool `json:"confirm"`
}

// writeResult is the answer to one write.
type writeResult struct {
	Tag      string    `json:"tag"`
	Status   string    `json:"status"`
	Code     string    `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Field    string    `json:"field,omitempty"`
	Old      plc.Value `json:"old"`
	Value    plc.Value `json:"value"`
	ReadBack plc.Value `json:"read_back"`
}

func decodeWrite(data []byte) (writeRequest, *apiError) {
	var req writeRequest
	if e := decodeJSON(data, &req); e != nil {
		return req, e
	}
	if req.Tag == "" {
		return req, errf(http.StatusBadRequest, "bad_value", "tag", "name the tag to write")
	}
	if len(req.Value) == 0 || string(req.Value) == "null" {
		return req, errf(http.StatusBadRequest, "bad_value", "value", "give the value to write")
	}
	return req, nil
}

func refused(tag, code, field, format string, args ...any) writeResult {
	return writeResult{Tag: tag, Status: WriteRefused, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// check does the console's checks of a write: the tag exists for the
// tenant, the user's role may write it, it is writable, the value has the
// tag's type and lies within its limits, a critical tag is confirmed. It
// returns the parsed value, or the refusal.
func (c *Console) check(ctx context.Context, u User, req writeRequest) (plc.Tag, plc.Value, *writeResult) {
	t, ok, err := c.backend.Tag(ctx, req.Tag)
	if err != nil {
		res := writeResult{Tag: req.Tag, Status: WriteFailed, Code: "backend", Message: err.Error()}
		return t, plc.Value{}, &res
	}
	if !ok {
		res := refused(req.Tag, "unknown_tag", "tag", "no tag %q", req.Tag)
		return t, plc.Value{}, &res
	}
	if !t.Writable() {
		res := refused(req.Tag, "read_only", "tag", "%q is read-only", req.Tag)
		return t, plc.Value{}, &res
	}
	if ok, why := mayWrite(u.Role, &t); !ok {
		res := refused(req.Tag, "forbidden", "tag", "%s", why)
		return t, plc.Value{}, &res
	}
	v, err := plc.ParseJSONValue(req.Value, t.EngType())
	if err != nil {
		res := refused(req.Tag, "bad_value", "value", "%v", err)
		return t, plc.Value{}, &res
	}
	if v.Kind().IsNumeric() {
		f := v.Float()
		if lo := t.Limits.Min; lo != nil && f < *lo {
			res := refused(req.Tag, "out_of_limits", "value", "%v is below the minimum %g", v, *lo)
			return t, v, &res
		}
		if hi := t.Limits.Max; hi != nil && f > *hi {
			res := refused(req.Tag, "out_of_limits", "value", "%v is above the maximum %g", v, *hi)
			return t, v, &res
		}
	}
	if t.Critical && !req.Confirm {
		res := refused(req.Tag, "confirmation_required", "confirm", "%q is critical: confirm the write a second time", req.Tag)
		return t, v, &res
	}
	return t, v, nil
}

// do checks and performs one write.
func (c *Console) do(ctx context.Context, u User, req writeRequest) writeResult {
	_, v, res := c.check(ctx, u, req)
	if res != nil {
		return *res
	}
	out := writeResult{Tag: req.Tag, Value: v}
	if ss, err := c.backend.Latest(ctx, []string{req.Tag}); err == nil && len(ss) == 1 && ss[0].Quality.IsGood() {
		out.Old = ss[0].Value
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.WriteTimeout)
	defer cancel()
	rb, err := c.backend.Write(wctx, req.Tag, req.Value)
	out.ReadBack = rb
	var le *plc.LimitError
	var ce *plc.ConversionError
	switch {
	case err == nil:
		out.Status = WriteConfirmed
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(wctx.Err(), context.DeadlineExceeded):
		out.Status, out.Code, out.Message = WriteTimedOut, "timed_out", fmt.Sprintf("no answer within %v: the write may or may not have happened", c.cfg.WriteTimeout)
	case errors.Is(err, plc.ErrReadOnly):
		out.Status, out.Code, out.Field, out.Message = WriteRefused, "read_only", "tag", err.Error()
	case errors.As(err, &le):
		out.Status, out.Code, out.Field, out.Message = WriteRefused, "out_of_limits", "value", err.Error()
	case errors.As(err, &ce):
		out.Status, out.Code, out.Field, out.Message = WriteRefused, "bad_value", "value", err.Error()
	case errors.Is(err, plc.ErrUnknownTag):
		out.Status, out.Code, out.Field, out.Message = WriteRefused, "unknown_tag", "tag", err.Error()
	case errors.Is(err, ErrForbidden):
		out.Status, out.Code, out.Field, out.Message = WriteRefused, "forbidden", "tag", err.Error()
	case errors.Is(err, plc.ErrVerifyMismatch):
		out.Status, out.Code, out.Message = WriteFailed, "read_back", err.Error()
	default:
		out.Status, out.Code, out.Message = WriteFailed, "device", err.Error()
	}
	return out
}

func writeStatus(res writeResult) int {
	switch res.Status {
	case WriteConfirmed:
		return http.StatusOK
	case WriteTimedOut:
		return http.StatusGatewayTimeout
	case WriteFailed:
		return http.StatusBadGateway
	}
	switch res.Code {
	case "unknown_tag":
		return http.StatusNotFound
	case "forbidden":
		return http.StatusForbidden
	case "read_only":
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

func (c *Console) write(w http.ResponseWriter, r *http.Request, u User) *apiError {
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	req, e := decodeWrite(data)
	if e != nil {
		return e
	}
	res := c.do(r.Context(), u, req)
	writeJSON(w, writeStatus(res), res)
	return nil
}

// --- recipes

// recipeBody is a recipe: a named set of tag values written together.
type recipeBody struct {
	Values []recipeValue `json:"values"`
}

type recipeValue struct {
	Tag   string          `json:"tag"`
	Value json.RawMessage `json:"value"`
}

type runRequest struct {
	// Confirm confirms the critical tags of the recipe.
	Confirm bool `json:"confirm"`
}

type recipeResult struct {
	Recipe string        `json:"recipe"`
	Status string        `json:"status"` // confirmed when every tag is
	Tags   []writeResult `json:"tags"`
}

// runRecipe checks every value of a recipe first and writes none when
// one is refused; otherwise it writes them in order, and audits the run
// as one action with the result of each tag.
func (c *Console) runRecipe(w http.ResponseWriter, r *http.Request, u User) *apiError {
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	var run runRequest
	if len(strings.TrimSpace(string(data))) > 0 {
		if e := decodeJSON(data, &run); e != nil {
			return e
		}
	}
	d, err := c.docs.Get(r.Context(), KindRecipe, u.Tenant, r.PathValue("id"))
	if err != nil {
		return docError(err)
	}
	var body recipeBody
	if e := decodeJSON(d.Body, &body); e != nil {
		return e
	}
	out := recipeResult{Recipe: d.Name, Status: WriteConfirmed, Tags: make([]writeResult, len(body.Values))}
	ok := true
	for i, v := range body.Values {
		if _, _, res := c.check(r.Context(), u, writeRequest{Tag: v.Tag, Value: v.Value, Confirm: run.Confirm}); res != nil {
			out.Tags[i], ok = *res, false
		} else {
			out.Tags[i] = writeResult{Tag: v.Tag, Status: "not_written"}
		}
	}
	if ok {
		for i, v := range body.Values {
			out.Tags[i] = c.do(r.Context(), u, writeRequest{Tag: v.Tag, Value: v.Value, Confirm: run.Confirm})
		}
	}
	var detail []string
	for _, t := range out.Tags {
		if t.Status != WriteConfirmed && out.Status == WriteConfirmed {
			out.Status = t.Status
			if !ok {
				out.Status = WriteRefused
			}
		}
		s := t.Tag + "=" + t.Status
		if t.Message != "" {
			s += " (" + t.Message + ")"
		}
		detail = append(detail, s)
	}
	result := "ok"
	if out.Status != WriteConfirmed {
		result = out.Status
	}
	c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: ActionRecipe, Tag: d.Name, Result: result, Detail: strings.Join(detail, "; ")})
	status := http.StatusOK
	if !ok {
		status = http.StatusUnprocessableEntity
	} else if out.Status != WriteConfirmed {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, out)
	return nil
}
