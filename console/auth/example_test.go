package auth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/console/auth"
)

func Example() {
	users, _ := auth.OpenFile("") // in memory; a path keeps them in a YAML file
	h, _ := auth.HashPassword("correct horse")
	_ = users.Put(context.Background(), auth.User{Name: "alice", Role: auth.Operator, PasswordHash: h})
	m, _ := auth.New(auth.Config{}, users)

	_, err := m.Login(context.Background(), "alice", "wrong", "10.0.0.7")
	fmt.Println(errors.Is(err, auth.ErrBadCredentials))
	s, _ := m.Login(context.Background(), "alice", "correct horse", "10.0.0.7")
	fmt.Println(s.User, s.Role, s.Role.AtLeast(auth.Viewer), s.Role.AtLeast(auth.Engineer))
	// Output:
	// true
	// alice operator true false
}
