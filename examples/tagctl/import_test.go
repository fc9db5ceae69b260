package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/plc"
)

// The imported file is a point database the gateway loads: read a tag
// of the imported DB from the simulator by its imported name.
func TestImportWritesAPointDatabaseThatReadsThePLC(t *testing.T) {
	srv := startSim(t)
	if err := srv.Set("DB5.DBW2:INT", plc.IntValue(plc.Int, 850)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Set("DB5.DBX24.1:BOOL", plc.BoolValue(true)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "kiln.csv")
	code, _, stderr := tagctl(t, "import", "-device", "kiln1", "-db", "5", "-o", out, "../../plc/s7/tia/testdata/kiln.db")
	if code != exitOK {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "kiln.db:24: Stamp: type DTL has no plc type") || !strings.Contains(stderr, "wrote 31 tags") {
		t.Errorf("stderr: %s", stderr)
	}
	plant := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(plant, fmt.Appendf(nil, "devices: [{name: kiln1, driver: s7, endpoint: %q}]\n", srv.Addr()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, lines, stderr := tagctl(t, "-tags", plant+","+out, "read", "Kiln.Setpoint", "Kiln.Bits[1]")
	if code != exitOK || len(lines) != 2 {
		t.Fatalf("read: exit %d, %v, %s", code, lines, stderr)
	}
	if lines[0]["value"].(fmt.Stringer).String() != "850" || lines[1]["value"] != true {
		t.Errorf("read %v", lines)
	}
}

func TestImportReportsBadFilesAndUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("DATA_BLOCK \"B\"\nSTRUCT\n  a : Foo;\nEND_STRUCT;\nBEGIN\nEND_DATA_BLOCK\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", bad}, exitFail, bad + `:3: a: unknown type "Foo"`},
		{[]string{"import", "../../plc/s7/tia/testdata/kiln.db"}, exitFail, "kiln.db:1: Kiln: the source gives no block number"},
		{[]string{"import", "x.pdf"}, exitFail, "unknown file kind"},
		{[]string{"import"}, exitUsage, "name the files"},
		{[]string{"import", "-db", "70000", bad}, exitUsage, "-db 70000"},
	} {
		code, _, stderr := tagctl(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

func TestImportWithoutOutputFileWritesYAMLToStdout(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"import", "-db", "3", "../../plc/s7/tia/testdata/kiln.db"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	db := &plc.PointDB{}
	if err := db.AddYAML("stdout", out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if len(db.Tags) != 31 || db.Tags[3].Name != "Kiln.Setpoint" || db.Tags[3].Address != "DB3.DBW2" || db.Tags[3].Device != "plc" {
		t.Fatalf("tags %+v", db.Tags)
	}

	// recipe.db holds DB7 and the symbolic Params: -db names only the
	// block of a one-block source.
	code, _, stderr := tagctl(t, "import", "../../plc/s7/tia/testdata/recipe.db", "-db", "9")
	if code != exitFail || !strings.Contains(stderr, "Params: the source gives no block number") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
