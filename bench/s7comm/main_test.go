package main

import (
	"testing"

	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// Every tag of the set has a Telegraf address, and both clients read
// the whole set from the simulator without an error or a violation.
func TestBothClientsReadTheWholeSet(t *testing.T) {
	tags, _ := s7sim.ScatteredTags(1000, 10, 1)
	for _, tg := range tags {
		if _, err := telegrafAddress(tg); err != nil {
			t.Fatalf("%s: %v", tg.Address, err)
		}
	}
	if err := run(200, 4, 0, 3, 2, 1); err != nil {
		t.Fatal(err)
	}
}
