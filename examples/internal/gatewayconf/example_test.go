package gatewayconf_test

import (
	"fmt"

	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
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
	// gw.yaml:2: http.listen: "8080" is not a host:port address such as 127.0.0.1:8080
}

func ExampleConfig_MemoryLimitFor() {
	for _, c := range []struct {
		limit int64
		env   string
	}{{0, ""}, {0, "200MiB"}, {256 << 20, "200MiB"}, {config.MemoryLimitOff, ""}} {
		bytes, src := config.Config{MemoryLimit: c.limit}.MemoryLimitFor(100_000, c.env)
		fmt.Printf("memory_limit %d, GOMEMLIMIT %q: set %d bytes (%s)\n", c.limit, c.env, bytes, src)
	}
	// Output:
	// memory_limit 0, GOMEMLIMIT "": set 125165824 bytes (auto)
	// memory_limit 0, GOMEMLIMIT "200MiB": set 0 bytes (GOMEMLIMIT)
	// memory_limit 268435456, GOMEMLIMIT "200MiB": set 268435456 bytes (config)
	// memory_limit -1, GOMEMLIMIT "": set 0 bytes (off)
}
