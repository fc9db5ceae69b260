package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

func TestPrintTagsIsTheDemo(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = run([]string{"-print-tags"})
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, sim.KilnLineYAML()) {
		t.Fatal("-print-tags does not print the demo tag list")
	}
}

func TestBadTagListIsRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plant.yaml")
	if err := os.WriteFile(f, []byte("tags:\n  - {name: A, address: DB1.DBW0, type: REAL}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-tags", f})
	if err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("error %v", err)
	}
}
