package tagcache

import (
	"fmt"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

func TestMissingListsEachUnknownTagOnce(t *testing.T) {
	var c Cache
	batch := []plc.Sample{{Tag: "a"}, {Tag: "b"}, {Tag: "a"}, {Tag: "c"}, {Tag: "c"}}
	if got := fmt.Sprint(c.Missing("acme", batch)); got != "[a b c]" {
		t.Fatalf("Missing = %s", got)
	}
	c.Add("acme", []string{"a", "c"})
	if got := fmt.Sprint(c.Missing("acme", batch)); got != "[b]" {
		t.Fatalf("after Add: Missing = %s", got)
	}
	if got := fmt.Sprint(c.Missing("globex", batch)); got != "[a b c]" {
		t.Fatalf("another tenant: Missing = %s", got)
	}
}
