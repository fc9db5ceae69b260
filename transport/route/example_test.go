package route_test

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/route"
	"github.com/kiln-iot/kiln/transport/spool"
)

// Batches go to one publisher, everything else to the fallback.
func Example() {
	root, _ := os.MkdirTemp("", "route-example-")
	defer os.RemoveAll(root)
	open := func() *spool.Spool {
		dir, _ := os.MkdirTemp(root, "topic-")
		sp, _ := spool.Open(spool.Config{Dir: dir})
		return sp
	}
	data, audit := open(), open()
	defer data.Close()
	defer audit.Close()
	p := route.New(spool.NewPublisher(audit), route.Route{
		Match: func(m transport.Message) bool { return m.Properties["content-type"] == "batch" },
		To:    spool.NewPublisher(data),
	})
	ms := []transport.Message{
		{Payload: []byte("b1"), Properties: map[string]string{"content-type": "batch"}},
		{Payload: []byte("a1"), Properties: map[string]string{"content-type": "audit"}},
	}
	done := make(chan int, len(ms))
	_ = p.Publish(context.Background(), ms, func(i int, err error) { done <- i })
	<-done
	<-done
	fmt.Println("data topic:", data.Stats().Records, "audit topic:", audit.Stats().Records)
	// Output:
	// data topic: 1 audit topic: 1
}
