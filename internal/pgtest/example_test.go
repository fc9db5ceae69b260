//go:build linux

package pgtest_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-iot/kiln/internal/pgtest"
)

// A cluster of one's own, as a benchmark runner outside the testing
// package uses it: a database owned by a plain role, connected to as that
// role. (Tests use pgtest.NewDB(t) on the shared cluster instead.)
func ExampleStart() {
	ctx := context.Background()
	c, err := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{"shared_buffers": "256MB"}})
	if err != nil {
		fmt.Println(err) // pgtest.ErrNotInstalled without PostgreSQL
		return
	}
	defer c.Stop()
	db, err := c.CreateDB(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)
	var user string
	_ = conn.QueryRow(ctx, "SELECT current_user").Scan(&user)
	fmt.Println(user == db.Owner)
}
