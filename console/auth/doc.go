// Package auth holds the console's users, their roles, password hashes,
// sessions and machine tokens, and the login rate limit. It knows nothing
// of HTTP: the console puts sessions into cookies and checks CSRF tokens;
// auth says who a session or token is and whether a password is right.
//
// Users live in a YAML file (FileUsers) or any Users store:
//
//	users, err := auth.OpenFile("users.yaml")
//	m, err := auth.New(auth.Config{}, users, auth.WithAudit(record))
//	s, err := m.Login(ctx, "alice", "secret", "10.0.0.7")
//	if errors.Is(err, auth.ErrRateLimited) { … }
//	s, ok := m.Session(ctx, s.ID) // on later requests
//
// Passwords are hashed with argon2id (HashPassword); a file holds only
// hashes. Roles are ordered: viewer < operator < engineer < admin.
package auth
