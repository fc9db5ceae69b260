package yamlconf_test

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// A problem found after decoding is reported at its field's line.
func Example() {
	data := []byte("devices:\n  - name: a\n    driver: s5\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fmt.Println(err)
		return
	}
	field := "devices[0].driver"
	fmt.Println(yamlconf.Format("gw.yaml", yamlconf.NodeLine(&doc, field), field, "unknown driver"))
	// Output: gw.yaml:3: devices[0].driver: unknown driver
}

// Split takes the line out of a yaml.v3 error.
func ExampleSplit() {
	var v map[string]any
	err := yaml.Unmarshal([]byte("a: 1\n b: 2\n"), &v)
	line, msg := yamlconf.Split(err)
	fmt.Println(yamlconf.Format("x.yaml", line, "", msg))
	// Output: x.yaml:2: mapping values are not allowed in this context
}
