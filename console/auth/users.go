package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// User is one person who may log in.
type User struct {
	// Name is the login name, unique.
	Name string `yaml:"name" json:"name"`
	Role Role   `yaml:"role" json:"role"`
	// Tenant is the tenant the user acts for; empty on a gateway, which
	// serves one.
	Tenant string `yaml:"tenant,omitempty" json:"tenant,omitempty"`
	// PasswordHash is HashPassword's result; never sent to a browser.
	PasswordHash string `yaml:"password_hash" json:"-"`
}

// Validate reports every bad field of the user as a *config.FieldError.
func (u User) Validate() error {
	var p config.Problems
	if u.Name == "" || strings.TrimSpace(u.Name) != u.Name || len(u.Name) > 64 || strings.ContainsAny(u.Name, "\x00\r\n\t") {
		p.Add("name", "%q: want 1 to 64 characters without spaces around or control characters", u.Name)
	}
	if u.Role == RoleNone || u.Role > Admin {
		p.Add("role", "want viewer, operator, engineer or admin")
	}
	if u.PasswordHash == "" {
		p.Add("password_hash", "is required (see HashPassword)")
	} else if _, err := CheckPassword(u.PasswordHash, ""); err != nil {
		p.Add("password_hash", "%v", err)
	}
	return p.Err()
}

// Users stores users. Implementations are safe for concurrent use.
type Users interface {
	// User returns the named user, or an error wrapping ErrNoUser.
	User(ctx context.Context, name string) (User, error)
	// List returns every user, sorted by name.
	List(ctx context.Context) ([]User, error)
	// Put adds or replaces a user.
	Put(ctx context.Context, u User) error
	// Delete removes a user; ErrNoUser when there is none.
	Delete(ctx context.Context, name string) error
}

// FileUsers keeps users in a YAML file, rewritten (atomically) on every
// change:
//
//	users:
//	  - name: alice
//	    role: engineer
//	    password_hash: $argon2id$v=19$m=19456,t=2,p=1$…
type FileUsers struct {
	path  string
	mu    sync.Mutex
	users []User
}

type usersFile struct {
	Users []fileUser `yaml:"users"`
}

// fileUser is a User as the file spells it; the role is text so that a
// bad one is reported with its line like any other problem.
type fileUser struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"`
	Tenant       string `yaml:"tenant,omitempty"`
	PasswordHash string `yaml:"password_hash"`
}

// OpenFile reads the users of a YAML file; a missing file is an empty
// list, created on the first Put. Every bad entry is reported as a
// *config.FieldError with the file and line. An empty path keeps the
// users in memory only.
func OpenFile(path string) (*FileUsers, error) {
	f := &FileUsers{path: path}
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlconf.Split(err)
		return nil, &config.FieldError{File: path, Line: line, Msg: msg, Err: err}
	}
	var uf usersFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&uf); err != nil && len(doc.Content) > 0 {
		line, msg := yamlconf.Split(err)
		return nil, &config.FieldError{File: path, Line: line, Msg: msg, Err: err}
	}
	var p config.Problems
	seen := map[string]bool{}
	users := make([]User, 0, len(uf.Users))
	for i, fu := range uf.Users {
		prefix := fmt.Sprintf("users[%d]", i)
		u := User{Name: fu.Name, Tenant: fu.Tenant, PasswordHash: fu.PasswordHash}
		var err error
		if u.Role, err = ParseRole(fu.Role); err != nil {
			u.Role = Viewer // reported here, not again by Validate
			p.Add(prefix+".role", "%q: want viewer, operator, engineer or admin", fu.Role)
		}
		p.Nest(prefix, u.Validate())
		users = append(users, u)
		if seen[u.Name] {
			p.Add(prefix+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
	}
	if err := p.Err(); err != nil {
		return nil, config.Locate(err, path, func(path string) int { return yamlconf.NodeLine(&doc, path) })
	}
	f.users = users
	f.sort()
	return f, nil
}

func (f *FileUsers) sort() {
	slices.SortFunc(f.users, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
}

// User returns the named user.
func (f *FileUsers) User(_ context.Context, name string) (User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Name == name {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("%w %q", ErrNoUser, name)
}

// List returns every user, sorted by name.
func (f *FileUsers) List(context.Context) ([]User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.users), nil
}

// Put validates u, adds or replaces it and saves the file.
func (f *FileUsers) Put(_ context.Context, u User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	next := slices.Clone(f.users)
	i := slices.IndexFunc(next, func(x User) bool { return x.Name == u.Name })
	if i >= 0 {
		next[i] = u
	} else {
		next = append(next, u)
	}
	return f.save(next)
}

// Delete removes the named user and saves the file.
func (f *FileUsers) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.users, func(x User) bool { return x.Name == name })
	if i < 0 {
		return fmt.Errorf("%w %q", ErrNoUser, name)
	}
	return f.save(slices.Delete(slices.Clone(f.users), i, i+1))
}

// save writes users to the file (temp file, fsync, rename) and then
// keeps them; on an error nothing changes.
func (f *FileUsers) save(users []User) error {
	if f.path != "" {
		uf := usersFile{Users: make([]fileUser, len(users))}
		for i, u := range users {
			uf.Users[i] = fileUser{Name: u.Name, Role: u.Role.String(), Tenant: u.Tenant, PasswordHash: u.PasswordHash}
		}
		data, err := yaml.Marshal(uf)
		if err != nil {
			return fmt.Errorf("auth: encode users: %w", err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(f.path), ".users-*.yaml")
		if err != nil {
			return fmt.Errorf("auth: save users: %w", err)
		}
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), f.path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("auth: save users: %w", err)
		}
	}
	f.users = users
	f.sort()
	return nil
}
