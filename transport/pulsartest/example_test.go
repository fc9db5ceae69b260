package pulsartest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kiln-iot/kiln/transport/pulsartest"
)

func Example() {
	b, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	client, err := pulsar.NewClient(pulsar.ClientOptions{URL: b.URL(), Logger: quietLogger()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	const topic = "persistent://acme/line1/samples"
	consumer, err := client.Subscribe(pulsar.ConsumerOptions{Topic: topic, SubscriptionName: "ingest"})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	ctx := context.Background()
	if _, err := producer.Send(ctx, &pulsar.ProducerMessage{Payload: []byte("21.5 degC")}); err != nil {
		log.Fatal(err)
	}
	msg, err := consumer.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg.Payload()))
	st, _ := b.Stats(topic)
	fmt.Println("published:", st.Published)
	// Output:
	// 21.5 degC
	// published: 1
}

func ExampleBroker_Stop() {
	b, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	addr := b.Addr()
	b.Stop() // every client loses its connection
	if err := b.Restart(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Addr() == addr)
	// Output: true
}
