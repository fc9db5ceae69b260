package tenant

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrInvalidID is wrapped by errors about malformed tenant ids.
	ErrInvalidID = errors.New("tenant: invalid tenant id")
	// ErrUnknownTenant is returned for an id not in the registry.
	ErrUnknownTenant = errors.New("tenant: unknown tenant")
	// ErrUnauthorized is returned for a token that matches no tenant.
	ErrUnauthorized = errors.New("tenant: invalid token")
	// ErrQuotaExceeded is wrapped by every *QuotaError.
	ErrQuotaExceeded = errors.New("tenant: quota exceeded")
	// ErrTopic is wrapped by errors about topic names that are malformed
	// or outside the tenant's walls.
	ErrTopic = errors.New("tenant: topic refused")
	// ErrNoTenant is returned by FromContext users when ctx carries none.
	ErrNoTenant = errors.New("tenant: no tenant in context")
)

// MaxIDLen is the longest tenant id.
const MaxIDLen = 63

// reserved ids name Pulsar's own tenants or would be confusing.
var reserved = map[string]bool{"public": true, "pulsar": true, "default": true, "admin": true}

// ValidateID checks a tenant id: 1 to 63 lowercase letters, digits and
// dashes, starting with a letter, not ending with a dash, no double dash,
// and not one of the reserved names (public, pulsar, default, admin). The
// error wraps ErrInvalidID and says what is wrong.
func ValidateID(id string) error {
	fail := func(reason string) error { return fmt.Errorf("%w %q: %s", ErrInvalidID, id, reason) }
	if id == "" {
		return fail("empty")
	}
	if len(id) > MaxIDLen {
		return fail(fmt.Sprintf("longer than %d characters", MaxIDLen))
	}
	if err := checkName(id, false); err != "" {
		return fail(err)
	}
	if reserved[id] {
		return fail("reserved name")
	}
	return nil
}

// checkName applies the rules of ids (and, with underscore, of
// namespaces) and returns what is wrong, or "".
func checkName(s string, underscore bool) string {
	if s[0] < 'a' || s[0] > 'z' {
		return "must start with a lowercase letter"
	}
	if s[len(s)-1] == '-' {
		return "must not end with a dash"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i > 0 && s[i-1] == '-' {
				return "must not contain a double dash"
			}
		case c == '_' && underscore:
		default:
			allowed := "lowercase letters, digits and dashes"
			if underscore {
				allowed = "lowercase letters, digits, dashes and underscores"
			}
			return fmt.Sprintf("character %q at %d: only %s are allowed", rune(c), i, allowed)
		}
	}
	return ""
}
