package auth

import (
	"fmt"
	"strings"
)

// Role is what a user may do. Roles are ordered: each may do what the
// ones below it may.
type Role uint8

// The roles. The zero Role is no role, which may do nothing.
const (
	RoleNone Role = iota
	// Viewer reads values, trends, the audit trail and dashboards.
	Viewer
	// Operator also writes tags whose write role is operator.
	Operator
	// Engineer also writes every writable tag, runs recipes and edits
	// shared dashboards.
	Engineer
	// Admin also manages users.
	Admin
)

var roleNames = [...]string{"none", "viewer", "operator", "engineer", "admin"}

// String returns the role's name: "viewer", "operator", "engineer", "admin".
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole parses a role name in any case.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames[1:] {
		if strings.EqualFold(s, n) {
			return Role(i + 1), nil
		}
	}
	return RoleNone, fmt.Errorf("%w %q: want viewer, operator, engineer or admin", ErrUnknownRole, s)
}

// MarshalText encodes the role as its name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a role name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// AtLeast reports whether r may do what min may.
func (r Role) AtLeast(min Role) bool { return r >= min && min != RoleNone }
