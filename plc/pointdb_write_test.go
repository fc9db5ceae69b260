package plc_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

func TestWriteYAMLAndCSVReadBackAsTheSameDatabase(t *testing.T) {
	src, err := plc.Load("testdata/plant.yaml", "testdata/tags.csv")
	if err != nil {
		t.Fatal(err)
	}
	// A description with the characters CSV and YAML quote.
	src.Tags[0].Description = `Burner "A", running: yes # really`

	dir := t.TempDir()
	all := filepath.Join(dir, "all.yaml")
	if err := src.WriteFile(all); err != nil {
		t.Fatal(err)
	}
	back, err := plc.Load(all)
	if err != nil {
		t.Fatalf("Load(written YAML): %v", err)
	}
	same(t, "YAML", src, back)

	tagsOnly := &plc.PointDB{Tags: src.Tags}
	csvFile := filepath.Join(dir, "tags.csv")
	if err := tagsOnly.WriteFile(csvFile); err != nil {
		t.Fatal(err)
	}
	devices := filepath.Join(dir, "devices.yaml")
	if err := (&plc.PointDB{Devices: src.Devices, Groups: src.Groups}).WriteFile(devices); err != nil {
		t.Fatal(err)
	}
	back, err = plc.Load(devices, csvFile)
	if err != nil {
		t.Fatalf("Load(devices, written CSV): %v", err)
	}
	same(t, "CSV", src, back)
}

func same(t *testing.T, what string, want, got *plc.PointDB) {
	t.Helper()
	if !reflect.DeepEqual(want.Tags, got.Tags) {
		for i := range want.Tags {
			if i >= len(got.Tags) || !reflect.DeepEqual(want.Tags[i], got.Tags[i]) {
				t.Fatalf("%s: tag %d:\n got %+v\nwant %+v", what, i, got.Tags[min(i, len(got.Tags)-1)], want.Tags[i])
			}
		}
		t.Fatalf("%s: %d tags, want %d", what, len(got.Tags), len(want.Tags))
	}
	if !reflect.DeepEqual(want.Devices, got.Devices) || !reflect.DeepEqual(want.Groups, got.Groups) {
		t.Fatalf("%s: devices %+v groups %+v, want %+v %+v", what, got.Devices, got.Groups, want.Devices, want.Groups)
	}
}

func TestWriteCSVRefusesDevicesAndBadTypes(t *testing.T) {
	db := &plc.PointDB{Devices: []plc.Device{{Name: "d", Driver: "plctest"}}}
	if err := db.WriteCSV(&bytes.Buffer{}); !errors.Is(err, plc.ErrCSVOneTable) {
		t.Fatalf("WriteCSV with a device: %v, want ErrCSVOneTable", err)
	}
	db = &plc.PointDB{Tags: []plc.Tag{{Name: "t", Device: "d", Address: "x"}}}
	if err := db.WriteYAML(&bytes.Buffer{}); err == nil {
		t.Fatal("WriteYAML wrote a tag without a type")
	}
	if err := db.WriteFile(filepath.Join(t.TempDir(), "x.txt")); err == nil {
		t.Fatal("WriteFile accepted a .txt file")
	}
}
