package sim_test

import (
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

// A plant serving the demo kiln line over S7 and OPC UA, and the point
// database a gateway reads it with.
func Example() {
	p, err := sim.New(sim.Config{}, sim.KilnLine())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	db, err := p.PointDB()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range db.Devices {
		fmt.Println(d.Name, d.Driver)
	}
	v, _ := p.Get("Kiln1.Recipe")
	fmt.Println(v)
	// Output:
	// plant-s7 s7
	// plant-opcua opcua
	// BRICK-RED-07
}

// A tag list of one's own, with a signal generator.
func ExampleParseTagList() {
	l, err := sim.ParseTagList("press.yaml", []byte(`
tags:
  - name: Press.Force
    address: DB1.DBD0
    type: REAL
    unit: kN
    signal: {kind: sine, offset: 120, amplitude: 30, period: 10s}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s := l.Tags[0].Signal
	fmt.Println(l.Tags[0].Name, s.Kind, s.Next(2500*time.Millisecond, 0, nil))
	// Output: Press.Force sine 150
}

// Errors name the file, line and field.
func ExampleParseTagList_errors() {
	_, err := sim.ParseTagList("press.yaml", []byte("tags:\n  - {name: Press.Force, address: DB1.DBW0, type: REAL}\n"))
	for _, e := range config.List(err) {
		fmt.Println(e.File, e.Line, e.Path)
	}
	// Output: press.yaml 2 tags[0].address
}
