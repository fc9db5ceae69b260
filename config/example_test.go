package config_test

import (
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/config"
)

type spoolConfig struct{ Dir string }

func (c spoolConfig) Validate() error {
	var p config.Problems
	if c.Dir == "" {
		p.Add("dir", "is required")
	}
	return p.Err()
}

// A service nests a library's problems under the key of its section.
func Example() {
	var p config.Problems
	p.Nest("spool", spoolConfig{}.Validate())
	p.Add("http.listen", "%q is not a host:port address", "8080")
	err := config.Locate(p.Err(), "gateway.yaml", func(path string) int {
		return map[string]int{"spool.dir": 7, "http.listen": 3}[path]
	})
	fmt.Println(config.Count(err) + ":")
	fmt.Println(err)
	fmt.Println(errors.Is(err, config.ErrInvalid))
	// Output:
	// 2 problems:
	// gateway.yaml:7: spool.dir: is required
	// gateway.yaml:3: http.listen: "8080" is not a host:port address
	// true
}
