package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
)

// Errors of logins and lookups.
var (
	// ErrBadCredentials: no such user, or a wrong password. The two are
	// not told apart, so logins cannot probe for names.
	ErrBadCredentials = errors.New("auth: wrong user name or password")
	// ErrRateLimited: too many failed logins for the name or the address
	// lately (a *RateLimitError says until when).
	ErrRateLimited = errors.New("auth: too many failed logins")
	// ErrNoUser: the user does not exist.
	ErrNoUser = errors.New("auth: no such user")
	// ErrUnknownRole: a role name that is none of the four.
	ErrUnknownRole = errors.New("auth: unknown role")
	// ErrBadHash: a stored password hash that is not argon2id.
	ErrBadHash = errors.New("auth: bad password hash")
)

// RateLimitError refuses a login until Until. errors.Is(err,
// ErrRateLimited) holds for it.
type RateLimitError struct{ Until time.Time }

// Error says until when logins are refused.
func (e *RateLimitError) Error() string {
	return "auth: too many failed logins; try again after " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Defaults of Config.
const (
	DefaultSessionTTL    = 8 * time.Hour
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultLoginFailures = 5
	DefaultLoginWindow   = 5 * time.Minute
)

// Config are the settings of logins and sessions. The zero value means
// the defaults.
type Config struct {
	// SessionTTL is the longest a session lives (default 8h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// IdleTimeout ends a session unused for that long (default 30m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// LoginFailures failed logins for one name or from one address within
	// LoginWindow refuse further logins for it until the window has passed
	// (defaults 5 and 5m).
	LoginFailures int           `yaml:"login_failures"`
	LoginWindow   time.Duration `yaml:"login_window"`
	// Tokens are API tokens for machines.
	Tokens []Token `yaml:"tokens"`
}

// Token is an API bearer token for a machine. Only its SHA-256 is stored.
type Token struct {
	// Name names the machine in audit records.
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	// Tenant the machine acts for; empty on a gateway.
	Tenant string `yaml:"tenant"`
	// SHA256 is the hex SHA-256 of the token (see HashToken).
	SHA256 string `yaml:"sha256"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.SessionTTL < 0 {
		p.Add("session_ttl", "%s is negative", c.SessionTTL)
	}
	if c.IdleTimeout < 0 {
		p.Add("idle_timeout", "%s is negative", c.IdleTimeout)
	}
	if c.LoginFailures < 0 {
		p.Add("login_failures", "%d is negative", c.LoginFailures)
	}
	if c.LoginWindow < 0 {
		p.Add("login_window", "%s is negative", c.LoginWindow)
	}
	for i, t := range c.Tokens {
		at := fmt.Sprintf("tokens[%d].", i)
		if t.Name == "" {
			p.Add(at+"name", "is required")
		}
		if t.Role == RoleNone {
			p.Add(at+"role", "want viewer, operator, engineer or admin")
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			p.Add(at+"sha256", "want 64 hex digits (the SHA-256 of the token)")
		}
	}
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = DefaultLoginFailures
	}
	if c.LoginWindow == 0 {
		c.LoginWindow = DefaultLoginWindow
	}
	return c
}

// HashToken returns the hex SHA-256 of a token, as Token.SHA256 holds it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a fresh random token (32 bytes, URL-safe base64).
func NewToken() string { return randomID() }

// Session is a logged-in user.
type Session struct {
	// ID is the secret the cookie carries.
	ID string
	// CSRF is the token every state-changing request of the session must
	// carry (synchronizer token), distinct from ID.
	CSRF    string
	User    string
	Role    Role
	Tenant  string
	Created time.Time
	// Expires is when the session ends at the latest (SessionTTL).
	Expires time.Time
	// LastUsed is when it was last looked up; it ends IdleTimeout later.
	LastUsed time.Time
}

// LoginEvent is one login attempt, successful or not, for the audit
// trail.
type LoginEvent struct {
	Time   time.Time
	User   string
	Remote string
	// Err is nil for a successful login, else ErrBadCredentials, a
	// *RateLimitError or the users store's error.
	Err error
}

// Option sets a code-only setting of a Manager.
type Option func(*Manager)

// WithClock sets the clock of expiries and rate limits (default the
// system clock).
func WithClock(c clock.Clock) Option { return func(m *Manager) { m.clk = c } }

// WithLogger sets the logger (default none).
func WithLogger(l *zap.Logger) Option { return func(m *Manager) { m.log = l } }

// WithSessions keeps sessions in s (default: in the process's memory).
// Replicas of a service that share s share their sessions.
func WithSessions(s Sessions) Option { return func(m *Manager) { m.sessions = s } }

// WithAudit calls fn for every login attempt. A failure to record is
// logged; fn should store the event durably.
func WithAudit(fn func(ctx context.Context, e LoginEvent) error) Option {
	return func(m *Manager) { m.audit = fn }
}

// Manager checks logins and keeps sessions (in memory) and API tokens. It
// is safe for concurrent use.
type Manager struct {
	cfg   Config
	users Users
	clk   clock.Clock
	log   *zap.Logger
	audit func(ctx context.Context, e LoginEvent) error

	sessions Sessions

	mu       sync.Mutex
	failures map[string][]time.Time // by "user:"+name and "addr:"+remote
}

// New returns a Manager over users.
func New(cfg Config, users Users, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if users == nil {
		return nil, errors.New("auth: New needs a users store")
	}
	m := &Manager{cfg: cfg.withDefaults(), users: users, log: zap.NewNop(), failures: map[string][]time.Time{}}
	for _, o := range opts {
		o(m)
	}
	m.clk = clock.Or(m.clk)
	if m.sessions == nil {
		m.sessions = NewMemorySessions()
	}
	return m, nil
}

// Users returns the users store.
func (m *Manager) Users() Users { return m.users }

// Login checks a user's password and starts a session. remote is the
// client's address, for the rate limit and the audit record. It fails
// with ErrBadCredentials or a *RateLimitError.
func (m *Manager) Login(ctx context.Context, name, password, remote string) (*Session, error) {
	now := m.clk.Now()
	s, err := m.login(ctx, name, password, remote, now)
	if m.audit != nil {
		if aerr := m.audit(context.WithoutCancel(ctx), LoginEvent{Time: now, User: name, Remote: remote, Err: err}); aerr != nil {
			m.log.Error("login audit record not stored", zap.String("user", name), zap.Error(aerr))
		}
	}
	return s, err
}

func (m *Manager) login(ctx context.Context, name, password, remote string, now time.Time) (*Session, error) {
	keys := []string{"user:" + name, "addr:" + remote}
	m.mu.Lock()
	for _, k := range keys {
		if until, limited := m.limited(k, now); limited {
			m.mu.Unlock()
			return nil, &RateLimitError{Until: until}
		}
	}
	m.mu.Unlock()

	u, err := m.users.User(ctx, name)
	ok := false
	switch {
	case errors.Is(err, ErrNoUser):
		// Hash anyway, so a wrong name takes as long as a wrong password.
		_, _ = CheckPassword(dummyHash, password)
	case err != nil:
		return nil, err
	default:
		if ok, err = CheckPassword(u.PasswordHash, password); err != nil {
			m.log.Error("stored password hash unusable", zap.String("user", name), zap.Error(err))
			ok = false
		}
	}
	if !ok {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, k := range keys {
			m.failures[k] = append(m.failures[k], now)
		}
		return nil, ErrBadCredentials
	}
	m.mu.Lock()
	delete(m.failures, keys[0])
	m.mu.Unlock()
	s := Session{ID: randomID(), CSRF: randomID(), User: u.Name, Role: u.Role, Tenant: u.Tenant, Created: now, Expires: now.Add(m.cfg.SessionTTL), LastUsed: now}
	if err := m.sessions.Put(ctx, s); err != nil {
		return nil, fmt.Errorf("auth: store session: %w", err)
	}
	return &s, nil
}

// dummyHash is checked for unknown users.
var dummyHash = func() string {
	h, err := HashPassword("kiln-dummy")
	if err != nil {
		panic(err)
	}
	return h
}()

// limited drops failures older than the window and reports whether key
// has reached the limit, and until when. m.mu is held.
func (m *Manager) limited(key string, now time.Time) (time.Time, bool) {
	fs := m.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= m.cfg.LoginWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(m.failures, key)
		return time.Time{}, false
	}
	m.failures[key] = fs
	if len(fs) >= m.cfg.LoginFailures {
		return fs[len(fs)-m.cfg.LoginFailures].Add(m.cfg.LoginWindow), true
	}
	return time.Time{}, false
}

func (m *Manager) ended(s *Session, now time.Time) bool {
	return !now.Before(s.Expires) || now.Sub(s.LastUsed) >= m.cfg.IdleTimeout
}

// Session returns the live session with the given ID, and marks it used.
// A session store that fails counts as no session (and is logged).
func (m *Manager) Session(ctx context.Context, id string) (*Session, bool) {
	if id == "" {
		return nil, false
	}
	now := m.clk.Now()
	s, ok, err := m.sessions.Get(ctx, id)
	if err != nil {
		m.log.Error("session store failed", zap.Error(err))
		return nil, false
	}
	if !ok {
		return nil, false
	}
	if m.ended(&s, now) {
		_ = m.sessions.Delete(ctx, id)
		return nil, false
	}
	s.LastUsed = now
	if err := m.sessions.Put(ctx, s); err != nil {
		m.log.Error("session store failed", zap.Error(err))
		return nil, false
	}
	return &s, true
}

// Logout ends a session; ending one that is gone is not an error.
func (m *Manager) Logout(ctx context.Context, id string) error {
	return m.sessions.Delete(ctx, id)
}

// EndUser ends every session of a user, as when the user is deleted or
// their role changes.
func (m *Manager) EndUser(ctx context.Context, name string) error {
	return m.sessions.DeleteUser(ctx, name)
}

// Machine is who an API token belongs to.
type Machine struct {
	Name   string
	Role   Role
	Tenant string
}

// Token returns the machine whose token this is.
func (m *Manager) Token(token string) (Machine, bool) {
	if token == "" {
		return Machine{}, false
	}
	h := HashToken(token)
	for _, t := range m.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(h), []byte(t.SHA256)) == 1 {
			return Machine{Name: t.Name, Role: t.Role, Tenant: t.Tenant}, true
		}
	}
	return Machine{}, false
}

func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
