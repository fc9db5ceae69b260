package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"

	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	"github.com/kiln-iot/kiln/console/consoletest"
	"github.com/kiln-iot/kiln/httpserve"
)

// A console over the simulated plant: an operator logs in and lists the
// setpoints, with whether they may write each.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plant, err := consoletest.Start(ctx, consoletest.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer plant.Close()
	users, _ := auth.OpenFile("")
	h, _ := auth.HashPassword("secret-1")
	_ = users.Put(ctx, auth.User{Name: "otto", Role: auth.Operator, PasswordHash: h})
	am, _ := auth.New(auth.Config{}, users)
	docs, _ := console.OpenDocs("")
	c, err := console.New(console.Config{}, plant.Backend, am, docs)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, _ := httpserve.Listen(httpserve.Config{Listen: "127.0.0.1:0"}, c)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { _ = c.Close(); cancel(); <-done }()

	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Jar: jar, Transport: tr}
	resp, err := client.Post(srv.URL()+"/api/login", "application/json", strings.NewReader(`{"user":"otto","password":"secret-1"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("login:", resp.Status)

	resp, err = client.Get(srv.URL() + "/api/tags?q=setpoint")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var list struct {
		Tags []struct {
			Name     string `json:"name"`
			CanWrite bool   `json:"can_write"`
			WhyNot   string `json:"why_not"`
		} `json:"tags"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	for _, t := range list.Tags {
		fmt.Println(strings.TrimSpace(fmt.Sprintln(t.Name, t.CanWrite, t.WhyNot)))
	}
	// Output:
	// login: 200 OK
	// Line1.Kiln.Zone1.Setpoint true
	// Line1.Kiln.Zone2.Setpoint false the engineer role may write this tag; you are operator
}
