package reconnect_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/reconnect"
)

// A device that accepts a connection and closes it at once: each session
// is short, so each redial waits a growing delay.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var d net.Dialer
	loop, err := reconnect.New(reconnect.Config{
		Retry: backoff.Config{Initial: 10 * time.Millisecond, Jitter: -1},
	}, func(ctx context.Context) (reconnect.Hold, error) {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			_, err := c.Read(make([]byte, 1)) // until the device closes
			return err
		}, nil
	}, reconnect.WithEvents(func(e reconnect.Event) {
		switch e.Kind {
		case reconnect.Lost:
			fmt.Println("lost:", e.Err == io.EOF)
		case reconnect.Retrying:
			fmt.Println("retrying in", e.In)
			if e.Attempt == 2 {
				cancel()
			}
		default:
			fmt.Println(e.Kind)
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("serve:", loop.Serve(ctx))
	// Output:
	// connected
	// lost: true
	// retrying in 10ms
	// connected
	// lost: true
	// retrying in 20ms
	// serve: <nil>
}
