package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
)

func TestPrintTagsIsTheDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-print-tags"}, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), sim.KilnLineYAML()) {
		t.Fatal("-print-tags does not print the demo tag list")
	}
}

func TestBadTagListIsRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plant.yaml")
	if err := os.WriteFile(f, []byte("tags:\n  - {name: A, address: DB1.DBW0, type: REAL}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-tags", f}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("error %v", err)
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-version"}, &out); err != nil {
		t.Fatal(err)
	}
	if want := buildinfo.Get().String() + "\n"; out.String() != want {
		t.Errorf("-version printed %q, want %q", out.String(), want)
	}
}
