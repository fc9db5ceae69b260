package pgtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/internal/pgtest"
)

// A test gets a fresh database owned by a plain role and connects to it.
func ExampleNewDB() {
	test := func(t *testing.T) {
		db := pgtest.NewDB(t)
		conn, err := pgx.Connect(context.Background(), db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var one int
		if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		fmt.Println(one)
	}
	_ = test // run by the testing package: func TestX(t *testing.T) { test(t) }
}

// A cluster of one's own, for a runner outside the testing package.
func ExampleStart() {
	c, err := pgtest.Start(context.Background(), pgtest.Options{})
	if err != nil {
		fmt.Println(err) // pgtest.ErrNotInstalled without PostgreSQL
		return
	}
	defer c.Stop()
	fmt.Println(c.DSN("postgres") != "")
}
