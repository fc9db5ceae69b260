package config_test

import (
	"fmt"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/config"
)

func ExampleParse() {
	c, err := config.Parse("gw.yaml", []byte(`
id: line1-gw
tenant: acme
transport:
  kind: pulsar
  pulsar:
    client: {url: "pulsar://cloud:6650"}
    topic: persistent://acme/plant/samples
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	c = c.WithDefaults()
	fmt.Println(c.Transport.CommandTopic, c.Spool.Dir, c.DemoEnabled())

	_, err = config.Parse("gw.yaml", []byte("http:\n  listen: 8080\n"))
	fmt.Println(err)
	// Output:
	// persistent://acme/plant/commands kiln-data/spool true
	// gw.yaml:2: http.listen: address 8080: missing port in address
}
