package buildinfo_test

import (
	"fmt"
	"strings"

	"github.com/kiln-iot/kiln/buildinfo"
)

// A binary's -version flag prints one line naming the build.
func Example() {
	info := buildinfo.Get()
	fmt.Println(strings.HasPrefix(info.String(), "kiln "))
	// Output: true
}
