package auth

import (
	"context"
	"sync"
)

// Sessions stores sessions. The Manager's default keeps them in memory;
// a service with replicas behind a load balancer keeps them in its
// database, so that a session survives a replica's restart. The Manager
// checks expiry itself, and Put replaces a session of the same ID.
type Sessions interface {
	Put(ctx context.Context, s Session) error
	// Get returns the session of an ID; ok is false when there is none.
	Get(ctx context.Context, id string) (s Session, ok bool, err error)
	Delete(ctx context.Context, id string) error
	// DeleteUser deletes every session of a user.
	DeleteUser(ctx context.Context, user string) error
}

// NewMemorySessions returns a Sessions in memory, the Manager's default;
// Managers that share one share their sessions.
func NewMemorySessions() Sessions { return &memSessions{m: map[string]Session{}} }

// memSessions keeps sessions in memory, dropping ended ones on Put.
type memSessions struct {
	mu sync.Mutex
	m  map[string]Session
}

func (s *memSessions) Put(_ context.Context, x Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[x.ID]; !ok {
		// A new session: drop those past their TTL, so the map stays as
		// big as the sessions alive.
		for id, old := range s.m {
			if !x.Created.Before(old.Expires) {
				delete(s.m, id)
			}
		}
	}
	s.m[x.ID] = x
	return nil
}

func (s *memSessions) Get(_ context.Context, id string) (Session, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	return x, ok, nil
}

func (s *memSessions) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func (s *memSessions) DeleteUser(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, x := range s.m {
		if x.User == user {
			delete(s.m, id)
		}
	}
	return nil
}
