package main

import "testing"

// The same measurement as go test benchmarks, for -benchmem and profiles:
//
//	go test -bench . -benchmem
func BenchmarkRestartKiln(b *testing.B) {
	b.ReportAllocs()
	if _, err := runKiln(b.N); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRestartSuture(b *testing.B) {
	b.ReportAllocs()
	if _, err := runSuture(b.N); err != nil {
		b.Fatal(err)
	}
}
