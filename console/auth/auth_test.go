package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/console/auth"
)

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPasswordHashRoundTripAndRejectsOthers(t *testing.T) {
	h := hash(t, "s3cret")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := auth.CheckPassword(h, "s3cret"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := auth.CheckPassword(h, "s3cret "); ok {
		t.Error("wrong password accepted")
	}
	if h2 := hash(t, "s3cret"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "plain", "$2a$10$abc", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=8,t=1,p=1$!!$AAAA"} {
		if _, err := auth.CheckPassword(bad, "x"); !errors.Is(err, auth.ErrBadHash) {
			t.Errorf("%q: %v, want ErrBadHash", bad, err)
		}
	}
}

func newManager(t *testing.T, clk clock.Clock, events *[]auth.LoginEvent, users ...auth.User) *auth.Manager {
	t.Helper()
	store, err := auth.OpenFile("")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := store.Put(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	m, err := auth.New(auth.Config{LoginFailures: 3, LoginWindow: time.Minute, SessionTTL: time.Hour, IdleTimeout: 10 * time.Minute},
		store, auth.WithClock(clk), auth.WithAudit(func(_ context.Context, e auth.LoginEvent) error {
			*events = append(*events, e)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoginSessionsExpireAndEveryAttemptIsAudited(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var events []auth.LoginEvent
	m := newManager(t, clk, &events, auth.User{Name: "alice", Role: auth.Operator, PasswordHash: hash(t, "pw")})
	ctx := context.Background()

	if _, err := m.Login(ctx, "alice", "nope", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := m.Login(ctx, "bob", "pw", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	s, err := m.Login(ctx, "alice", "pw", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Role != auth.Operator || s.CSRF == "" || s.CSRF == s.ID || len(s.ID) < 40 {
		t.Fatalf("session %+v", s)
	}
	if len(events) != 3 || events[0].Err == nil || events[1].User != "bob" || events[2].Err != nil || events[2].Remote != "10.0.0.1" {
		t.Fatalf("audit events %+v", events)
	}

	clk.Advance(9 * time.Minute)
	if _, ok := m.Session(ctx, s.ID); !ok {
		t.Fatal("session ended before its idle timeout")
	}
	clk.Advance(9 * time.Minute) // used 9 minutes ago: still alive
	if _, ok := m.Session(ctx, s.ID); !ok {
		t.Fatal("use did not extend the idle timeout")
	}
	clk.Advance(10 * time.Minute)
	if _, ok := m.Session(ctx, s.ID); ok {
		t.Fatal("session outlived its idle timeout")
	}

	s, _ = m.Login(ctx, "alice", "pw", "10.0.0.1")
	for range 6 {
		clk.Advance(9 * time.Minute)
		if _, ok := m.Session(ctx, s.ID); !ok {
			t.Fatal("session ended early")
		}
	}
	clk.Advance(9 * time.Minute) // 63 minutes: past the 1h TTL
	if _, ok := m.Session(ctx, s.ID); ok {
		t.Fatal("session outlived its TTL")
	}

	s, _ = m.Login(ctx, "alice", "pw", "10.0.0.1")
	_ = m.Logout(ctx, s.ID)
	if _, ok := m.Session(ctx, s.ID); ok {
		t.Fatal("session alive after logout")
	}
	if _, ok := m.Session(ctx, "forged"); ok {
		t.Fatal("unknown session id accepted")
	}
}

func TestLoginRateLimitPerNameAndAddress(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var events []auth.LoginEvent
	m := newManager(t, clk, &events, auth.User{Name: "alice", Role: auth.Viewer, PasswordHash: hash(t, "pw")})
	ctx := context.Background()
	for i := range 3 {
		if _, err := m.Login(ctx, "alice", "guess", "10.0.0."+string(rune('1'+i))); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	_, err := m.Login(ctx, "alice", "pw", "10.0.0.9")
	var rl *auth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || !rl.Until.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("after 3 failures for the name, the right password: %v", err)
	}
	if last := events[len(events)-1]; !errors.Is(last.Err, auth.ErrRateLimited) {
		t.Fatalf("refused login not audited as such: %+v", last)
	}
	clk.Advance(time.Minute)
	if _, err := m.Login(ctx, "alice", "pw", "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// One address guessing many names is limited too.
	for _, n := range []string{"a", "b", "c"} {
		_, _ = m.Login(ctx, n, "x", "192.0.2.1")
	}
	if _, err := m.Login(ctx, "alice", "pw", "192.0.2.1"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("address limit: %v", err)
	}
}

func TestTokensForMachines(t *testing.T) {
	tok := auth.NewToken()
	users, _ := auth.OpenFile("")
	m, err := auth.New(auth.Config{Tokens: []auth.Token{{Name: "scada", Role: auth.Viewer, SHA256: auth.HashToken(tok)}}}, users)
	if err != nil {
		t.Fatal(err)
	}
	if mc, ok := m.Token(tok); !ok || mc.Name != "scada" || mc.Role != auth.Viewer {
		t.Fatalf("token: %+v %v", mc, ok)
	}
	if _, ok := m.Token(tok + "x"); ok {
		t.Fatal("wrong token accepted")
	}
	if _, ok := m.Token(""); ok {
		t.Fatal("empty token accepted")
	}
	err = auth.Config{Tokens: []auth.Token{{SHA256: "abc"}}, SessionTTL: -1}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if strings.Join(paths, " ") != "session_ttl tokens[0].name tokens[0].role tokens[0].sha256" {
		t.Fatalf("problems %v: %v", paths, err)
	}
}

func TestFileUsersPersistAndReportBadEntriesWithLines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.yaml")
	f, err := auth.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, auth.User{Name: "zed", Role: auth.Admin, PasswordHash: hash(t, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, auth.User{Name: "amy", Role: auth.Engineer, PasswordHash: hash(t, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, auth.User{Name: " bad", Role: auth.RoleNone}); err == nil {
		t.Fatal("bad user stored")
	}
	g, err := auth.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := g.List(ctx)
	if len(list) != 2 || list[0].Name != "amy" || list[1].Role != auth.Admin {
		t.Fatalf("reloaded %+v", list)
	}
	if err := g.Delete(ctx, "amy"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.User(ctx, "amy"); !errors.Is(err, auth.ErrNoUser) {
		t.Fatalf("deleted user: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("users:\n  - name: a\n    role: boss\n    password_hash: x\n"), 0o600)
	_, err = auth.OpenFile(bad)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:3") {
		t.Fatalf("unknown role: %v", err)
	}
	_ = os.WriteFile(bad, []byte("users:\n  - name: a\n    role: viewer\n    password_hash: x\n  - name: a\n    role: viewer\n    password_hash: x\n"), 0o600)
	_, err = auth.OpenFile(bad)
	var got []string
	for _, fe := range config.List(err) {
		got = append(got, fe.Error())
	}
	if len(got) != 3 || !strings.Contains(got[0], "bad.yaml:4: users[0].password_hash") || !strings.Contains(got[2], "bad.yaml:5: users[1].name: duplicate") {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
}

func TestManagersSharingASessionStoreShareSessions(t *testing.T) {
	ctx := context.Background()
	users, _ := auth.OpenFile("")
	_ = users.Put(ctx, auth.User{Name: "alice", Role: auth.Engineer, PasswordHash: hash(t, "pw")})
	shared := auth.NewMemorySessions()
	a, _ := auth.New(auth.Config{}, users, auth.WithSessions(shared))
	b, _ := auth.New(auth.Config{}, users, auth.WithSessions(shared))
	s, err := a.Login(ctx, "alice", "pw", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Session(ctx, s.ID); !ok || got.User != "alice" || got.CSRF != s.CSRF {
		t.Fatalf("the other replica: %+v %v", got, ok)
	}
	if err := b.EndUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Session(ctx, s.ID); ok {
		t.Fatal("session alive after EndUser on the other replica")
	}
}
