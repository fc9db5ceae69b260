package spool_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/spool"
)

func Example() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := spool.Open(spool.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	// durable (fsynced) when Append returns nil
	if err := s.Append(ctx, []byte("first"), []byte("second")); err != nil {
		fmt.Println(err)
		return
	}

	r, err := s.OpenReader()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	recs, err := r.Next(ctx, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rec := range recs {
		fmt.Println(rec.Seq, string(rec.Data))
	}
	// acknowledged records are never read again, even after a crash
	if err := r.Ack(recs[len(recs)-1].Seq); err != nil {
		fmt.Println(err)
	}
	fmt.Println("unacknowledged:", s.Stats().Records)
	// Output:
	// 1 first
	// 2 second
	// unacknowledged: 0
}

// The spool as the embedded transport: a gateway publishes, a local
// consumer subscribes, no broker in between.
func ExampleNewSubscriber() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := spool.Open(spool.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	pub := spool.NewPublisher(s)
	defer pub.Close()
	msgs := []transport.Message{{Key: "gw-1", Payload: []byte("batch 1")}, {Key: "gw-1", Payload: []byte("batch 2")}}
	err = pub.Publish(ctx, msgs, func(i int, err error) { fmt.Println("stored", i, err) })
	if err != nil {
		fmt.Println(err)
		return
	}

	sub, err := spool.NewSubscriber(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	for range msgs {
		d, err := sub.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(d.Message().Key, string(d.Message().Payload))
		d.Ack()
	}
	// Output:
	// stored 0 <nil>
	// stored 1 <nil>
	// gw-1 batch 1
	// gw-1 batch 2
}
