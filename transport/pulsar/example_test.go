package pulsar_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func Example() {
	broker, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	cc := kpulsar.ClientConfig{URL: broker.URL()}
	const topic = "persistent://acme/line1/samples"

	sub, err := kpulsar.NewSubscriber(kpulsar.SubscriberConfig{Client: cc, Topic: topic, Subscription: "ingest", Earliest: true})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	pub, err := kpulsar.NewPublisher(kpulsar.PublisherConfig{Client: cc, Topic: topic, ProducerName: "gw-line1"})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	confirmed := make(chan error, 1)
	err = pub.Publish(ctx, []transport.Message{{Key: "plc-1", Payload: []byte("21.5")}}, func(_ int, err error) {
		confirmed <- err // nil: the broker holds it
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("confirmed:", <-confirmed)

	d, err := sub.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Message().Key, string(d.Message().Payload))
	if err := d.Ack(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// confirmed: <nil>
	// plc-1 21.5
}
