package console

import (
	"errors"
	"net/http"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/console/auth"
)

type userJSON struct {
	Name   string    `json:"name"`
	Role   auth.Role `json:"role"`
	Tenant string    `json:"tenant,omitempty"`
}

type userRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

func decodeUser(data []byte, create bool) (userRequest, auth.Role, *apiError) {
	var req userRequest
	if e := decodeJSON(data, &req); e != nil {
		return req, 0, e
	}
	if create && req.Name == "" {
		return req, 0, errf(http.StatusBadRequest, "bad_value", "name", "name the user")
	}
	var role auth.Role
	if req.Role != "" || create {
		var err error
		if role, err = auth.ParseRole(req.Role); err != nil {
			return req, 0, errf(http.StatusBadRequest, "bad_value", "role", "%v", err)
		}
	}
	if (create || req.Password != "") && (len(req.Password) < 8 || len(req.Password) > 1024) {
		return req, 0, errf(http.StatusBadRequest, "bad_value", "password", "want 8 to 1024 characters")
	}
	return req, role, nil
}

func (c *Console) listUsers(w http.ResponseWriter, r *http.Request, u User) *apiError {
	all, err := c.auth.Users().List(r.Context())
	if err != nil {
		return errf(http.StatusBadGateway, "backend", "", "users: %v", err)
	}
	out := []userJSON{}
	for _, x := range all {
		if x.Tenant == u.Tenant {
			out = append(out, userJSON{Name: x.Name, Role: x.Role, Tenant: x.Tenant})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Console) tenantUser(r *http.Request, u User, name string) (auth.User, *apiError) {
	x, err := c.auth.Users().User(r.Context(), name)
	if errors.Is(err, auth.ErrNoUser) || (err == nil && x.Tenant != u.Tenant) {
		return x, errf(http.StatusNotFound, "not_found", "name", "no user %q", name)
	}
	if err != nil {
		return x, errf(http.StatusBadGateway, "backend", "", "users: %v", err)
	}
	return x, nil
}

func (c *Console) putUser(w http.ResponseWriter, r *http.Request, u User, x auth.User, status int, detail string) *apiError {
	if err := c.auth.Users().Put(r.Context(), x); err != nil {
		if fe := config.List(err); len(fe) > 0 {
			return errf(http.StatusBadRequest, "bad_value", fe[0].Path, "%s", fe[0].Msg)
		}
		return errf(http.StatusBadGateway, "backend", "", "users: %v", err)
	}
	_ = c.auth.EndUser(r.Context(), x.Name)
	c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: ActionUser, Tag: x.Name, Result: "ok", Detail: detail})
	writeJSON(w, status, userJSON{Name: x.Name, Role: x.Role, Tenant: x.Tenant})
	return nil
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request, u User) *apiError {
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	req, role, e := decodeUser(data, true)
	if e != nil {
		return e
	}
	if _, err := c.auth.Users().User(r.Context(), req.Name); err == nil {
		return errf(http.StatusConflict, "exists", "name", "user %q exists", req.Name)
	}
	h, err := auth.HashPassword(req.Password)
	if err != nil {
		return errf(http.StatusInternalServerError, "internal", "", "%v", err)
	}
	return c.putUser(w, r, u, auth.User{Name: req.Name, Role: role, Tenant: u.Tenant, PasswordHash: h}, http.StatusCreated, "created as "+role.String())
}

func (c *Console) updateUser(w http.ResponseWriter, r *http.Request, u User) *apiError {
	x, e := c.tenantUser(r, u, r.PathValue("name"))
	if e != nil {
		return e
	}
	data, e := c.body(w, r)
	if e != nil {
		return e
	}
	req, role, e := decodeUser(data, false)
	if e != nil {
		return e
	}
	if req.Name != "" && req.Name != x.Name {
		return errf(http.StatusBadRequest, "bad_value", "name", "a user cannot be renamed")
	}
	detail := ""
	if role != auth.RoleNone {
		x.Role, detail = role, "role "+role.String()
	}
	if req.Password != "" {
		h, err := auth.HashPassword(req.Password)
		if err != nil {
			return errf(http.StatusInternalServerError, "internal", "", "%v", err)
		}
		x.PasswordHash, detail = h, detail+" password changed"
	}
	return c.putUser(w, r, u, x, http.StatusOK, detail)
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, u User) *apiError {
	x, e := c.tenantUser(r, u, r.PathValue("name"))
	if e != nil {
		return e
	}
	if x.Name == u.Name {
		return errf(http.StatusConflict, "self", "name", "you cannot delete yourself")
	}
	if err := c.auth.Users().Delete(r.Context(), x.Name); err != nil {
		return errf(http.StatusBadGateway, "backend", "", "users: %v", err)
	}
	_ = c.auth.EndUser(r.Context(), x.Name)
	c.record(r.Context(), AuditEntry{Who: u.Name, Tenant: u.Tenant, Channel: u.Channel, Action: ActionUser, Tag: x.Name, Result: "ok", Detail: "deleted"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
