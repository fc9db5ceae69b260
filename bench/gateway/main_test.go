package main

import (
	"testing"

	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/plc"
)

// BenchmarkPlantStep compares one step of the plant at 100,000 DINT
// counters: the simulator's own Step (a signal and a store per tag) and
// the runner's stepPlant (one write per data block).
//
//	go test ./bench/gateway -run '^$' -bench PlantStep
func BenchmarkPlantStep(b *testing.B) {
	const n = 100_000
	list, err := tagList(n)
	if err != nil {
		b.Fatal(err)
	}
	plant, err := sim.New(sim.Config{NoOPCUA: true}, list)
	if err != nil {
		b.Fatal(err)
	}
	defer plant.Close()
	b.Run("sim.Step", func(b *testing.B) {
		for b.Loop() {
			if err := plant.Step(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stepPlant", func(b *testing.B) {
		block := make([]byte, 4*perDB)
		var v int64
		for b.Loop() {
			v++
			if err := stepPlant(plant.S7(), block, n, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestStepPlant checks that the runner's step leaves every counter where
// the simulator's Step would: the same value in every tag.
func TestStepPlant(t *testing.T) {
	const n = 25_000 // three data blocks, the last one partly used
	list, err := tagList(n)
	if err != nil {
		t.Fatal(err)
	}
	plant, err := sim.New(sim.Config{NoOPCUA: true}, list)
	if err != nil {
		t.Fatal(err)
	}
	defer plant.Close()
	if err := stepPlant(plant.S7(), make([]byte, 4*perDB), n, 42); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"T000000", "T009999", "T010000", "T024999"} {
		v, err := plant.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := v.Int(); got != 42 || v.Kind() != plc.DInt {
			t.Errorf("%s = %v, want DINT 42", name, v)
		}
	}
}
