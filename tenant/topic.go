package tenant

import (
	"fmt"
	"strings"
)

// TopicScheme is the only topic domain tenants get.
const TopicScheme = "persistent://"

// MaxTopicLen is the longest local topic name.
const MaxTopicLen = 200

// Topic is a parsed Pulsar topic name,
// persistent://<tenant>/<namespace>/<local>.
type Topic struct {
	Tenant, Namespace, Local string
}

// String returns the full topic name.
func (t Topic) String() string {
	return TopicScheme + t.Tenant + "/" + t.Namespace + "/" + t.Local
}

// ParseTopic parses a full topic name and checks each part: the tenant by
// ValidateID, the namespace by ValidateNamespace, the local name by
// ValidateLocal. Errors wrap ErrTopic.
func ParseTopic(name string) (Topic, error) {
	rest, ok := strings.CutPrefix(name, TopicScheme)
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q does not start with %s", ErrTopic, name, TopicScheme)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return Topic{}, fmt.Errorf("%w: %q is not %s<tenant>/<namespace>/<topic>", ErrTopic, name, TopicScheme)
	}
	t := Topic{Tenant: parts[0], Namespace: parts[1], Local: parts[2]}
	if err := ValidateID(t.Tenant); err != nil {
		return Topic{}, fmt.Errorf("%w: %q: %w", ErrTopic, name, err)
	}
	if err := ValidateNamespace(t.Namespace); err != nil {
		return Topic{}, fmt.Errorf("%w: %q: %w", ErrTopic, name, err)
	}
	if err := ValidateLocal(t.Local); err != nil {
		return Topic{}, fmt.Errorf("%w: %q: %w", ErrTopic, name, err)
	}
	return t, nil
}

// ValidateNamespace checks a namespace name: 1 to 63 lowercase letters,
// digits, dashes and underscores, starting with a letter.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("namespace: empty")
	}
	if len(ns) > MaxIDLen {
		return fmt.Errorf("namespace %q: longer than %d characters", ns, MaxIDLen)
	}
	if why := checkName(ns, true); why != "" {
		return fmt.Errorf("namespace %q: %s", ns, why)
	}
	return nil
}

// ValidateLocal checks a local topic name: 1 to 200 ASCII letters,
// digits, dots, dashes and underscores, starting with a letter or digit,
// without "..". Slashes, colons, percent escapes, spaces and control
// characters are refused, so a name cannot reach another namespace or
// tenant.
func ValidateLocal(local string) error {
	if local == "" {
		return fmt.Errorf("topic: empty")
	}
	if len(local) > MaxTopicLen {
		return fmt.Errorf("topic %q: longer than %d characters", local, MaxTopicLen)
	}
	if !isAlnum(local[0]) {
		return fmt.Errorf("topic %q: must start with a letter or digit", local)
	}
	if strings.Contains(local, "..") {
		return fmt.Errorf("topic %q: must not contain \"..\"", local)
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("topic %q: character %q at %d: only letters, digits, '.', '-' and '_' are allowed", local, rune(c), i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Topic returns the full name of topic local in namespace ns of t:
// persistent://<t.ID>/<ns>/<local>. ns must be one of t's namespaces, and
// local a plain name (see ValidateLocal). Errors wrap ErrTopic.
func (t *Tenant) Topic(ns, local string) (string, error) {
	if !t.HasNamespace(ns) {
		return "", fmt.Errorf("%w: namespace %q is not one of tenant %s's", ErrTopic, ns, t.id)
	}
	if err := ValidateLocal(local); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTopic, err)
	}
	return Topic{Tenant: t.id, Namespace: ns, Local: local}.String(), nil
}

// CheckTopic parses a full topic name and accepts it only if it belongs
// to t: its tenant is t and its namespace one of t's. Use it on topic
// names that come from outside (a request, a message's origin).
func (t *Tenant) CheckTopic(name string) (Topic, error) {
	tp, err := ParseTopic(name)
	if err != nil {
		return Topic{}, err
	}
	if tp.Tenant != t.id {
		return Topic{}, fmt.Errorf("%w: %q belongs to tenant %s, not %s", ErrTopic, name, tp.Tenant, t.id)
	}
	if !t.HasNamespace(tp.Namespace) {
		return Topic{}, fmt.Errorf("%w: namespace %q is not one of tenant %s's", ErrTopic, tp.Namespace, t.id)
	}
	return tp, nil
}

// PulsarNamespace returns the Pulsar namespace "<t.ID>/<ns>" for one of
// t's namespaces.
func (t *Tenant) PulsarNamespace(ns string) (string, error) {
	if !t.HasNamespace(ns) {
		return "", fmt.Errorf("%w: namespace %q is not one of tenant %s's", ErrTopic, ns, t.id)
	}
	return t.id + "/" + ns, nil
}
