package pgstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/pgstore"
)

// Open a store on a database whose role is a plain owner (not a superuser),
// keep 90 days, and write a batch for a tenant.
func ExampleOpen() {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{
		DSN:       "postgres://kiln@127.0.0.1:5432/kiln?sslmode=disable",
		Retention: 90 * 24 * time.Hour,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	go func() { _ = s.Serve(ctx) }() // partitions ahead, retention

	res, err := s.Write(ctx, "acme", []plc.Sample{
		{Tag: "Line1.Temp", Value: plc.FloatValue(plc.Real, 71.5), Quality: plc.Good, Time: time.Now()},
	})
	fmt.Println(res, err)
}
