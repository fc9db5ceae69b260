package transport_test

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

// A Publisher reports each message's fate through done; a Subscriber's
// delivery is acknowledged after it was processed. The embedded spool
// transport stands in here for any implementation.
func Example() {
	dir, err := os.MkdirTemp("", "kiln-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := spool.Open(spool.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	ctx := context.Background()
	var pub transport.Publisher = spool.NewPublisher(s)
	defer pub.Close()
	msgs := []transport.Message{
		{Key: "gw-1", Payload: []byte("first")},
		{Key: "gw-1", Payload: []byte("second")},
	}
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	if err := pub.Publish(ctx, msgs, func(i int, err error) {
		defer wg.Done()
		if err != nil {
			fmt.Println("not durable:", i, err)
		}
	}); err != nil {
		fmt.Println(err)
		return
	}
	wg.Wait()

	sub, err := spool.NewSubscriber(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	var _ transport.Subscriber = sub
	for range msgs {
		d, err := sub.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(d.Message().Payload))
		if err := d.Ack(); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// first
	// second
}
