package tia_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-iot/kiln/plc"
	_ "github.com/kiln-iot/kiln/plc/s7" // driver s7, for plc.Load's address check
	"github.com/kiln-iot/kiln/plc/s7/tia"
)

func parseFile(t *testing.T, name string) []*tia.DataBlock {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := tia.ParseDBSource(name, src)
	if err != nil {
		t.Fatalf("ParseDBSource(%s): %v", name, err)
	}
	return blocks
}

// layout lists a block's variables as "path type address comment".
func layout(b *tia.DataBlock, db int) []string {
	var out []string
	for _, v := range b.Vars {
		s := fmt.Sprintf("%s %s %d.%d", v.Path, v.TypeName, v.Offset, v.Bit)
		if v.Type.Valid() {
			s += " " + v.Address(db)
		}
		if v.Comment != "" {
			s += " // " + v.Comment
		}
		out = append(out, s)
	}
	return out
}

func checkLayout(t *testing.T, got, want []string) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("var %d: got %q, want %q", i, g, w)
		}
	}
}

// The offsets below are computed by hand from the CPU's rules for blocks
// without optimized access: BOOLs share bytes, 8-bit types take the next
// byte, 16-bit and larger types, strings, arrays and structs start at an
// even byte, a STRING[n] takes n+2 bytes, arrays and structs take an even
// number of bytes.
func TestDBSourceLayoutAsTheCPUPlacesIt(t *testing.T) {
	blocks := parseFile(t, "kiln.db")
	if len(blocks) != 1 {
		t.Fatalf("%d blocks", len(blocks))
	}
	b := blocks[0]
	if b.Name != "Kiln" || b.Number != 0 || b.Size != 318 || b.Line != 1 {
		t.Errorf("block %q number %d size %d line %d, want Kiln 0 318 1", b.Name, b.Number, b.Size, b.Line)
	}
	checkLayout(t, layout(b, 3), []string{
		"Running Bool 0.0 DB3.DBX0.0 // Burner running",
		"Fault Bool 0.1 DB3.DBX0.1",
		"Mode Byte 1.0 DB3.DBB1",
		"Setpoint Int 2.0 DB3.DBW2 // Setpoint in °C",
		"Flag Bool 4.0 DB3.DBX4.0",
		"Speed Real 6.0 DB3.DBD6",
		"Batch String[5] 10.0 DB3.DBB10",
		"Code Char 17.0 DB3.DBB17",
		"Temps[1] Int 18.0 DB3.DBW18 // zone temperatures",
		"Temps[2] Int 20.0 DB3.DBW20 // zone temperatures",
		"Temps[3] Int 22.0 DB3.DBW22 // zone temperatures",
		"Bits[0] Bool 24.0 DB3.DBX24.0",
		"Bits[1] Bool 24.1 DB3.DBX24.1",
		"Bits[2] Bool 24.2 DB3.DBX24.2",
		"Bits[3] Bool 24.3 DB3.DBX24.3",
		"Bits[4] Bool 24.4 DB3.DBX24.4",
		"Bits[5] Bool 24.5 DB3.DBX24.5",
		"Bits[6] Bool 24.6 DB3.DBX24.6",
		"Bits[7] Bool 24.7 DB3.DBX24.7",
		"Bits[8] Bool 25.0 DB3.DBX25.0",
		"Bits[9] Bool 25.1 DB3.DBX25.1",
		"Zone.On Bool 26.0 DB3.DBX26.0",
		"Zone.Power DInt 28.0 DB3.DBD28",
		"Zone.Name String 32.0 DB3.DBB32",
		"Zone.Spare Byte 288.0 DB3.DBB288",
		"Total LReal 290.0 DB3.DBB290",
		"Stamp DTL 298.0",
		"Last Bool 310.0 DB3.DBX310.0",
		"Odd[0] Byte 312.0 DB3.DBB312",
		"Odd[1] Byte 313.0 DB3.DBB313",
		"Odd[2] Byte 314.0 DB3.DBB314",
		"Tail Byte 316.0 DB3.DBB316",
	})
	if v := b.Vars[6]; v.Type != plc.StringType(5) {
		t.Errorf("Batch type %v", v.Type)
	}
	if v := b.Vars[23]; v.Type != plc.StringType(254) {
		t.Errorf("Zone.Name type %v", v.Type)
	}
}

func TestDBSourceUserTypesArraysOfStructsAndNumberedBlocks(t *testing.T) {
	blocks := parseFile(t, "recipe.db")
	if len(blocks) != 2 {
		t.Fatalf("%d blocks", len(blocks))
	}
	b := blocks[0]
	if b.Name != "DB7" || b.Number != 7 || b.Size != 40 {
		t.Errorf("block %q number %d size %d, want DB7 7 40", b.Name, b.Number, b.Size)
	}
	checkLayout(t, layout(b, 7), []string{
		"Count Byte 0.0 DB7.DBB0",
		"Motors[0].On Bool 2.0 DB7.DBX2.0",
		"Motors[0].Speed Int 4.0 DB7.DBW4 // rpm",
		"Motors[0].Fault Bool 6.0 DB7.DBX6.0",
		"Motors[1].On Bool 8.0 DB7.DBX8.0",
		"Motors[1].Speed Int 10.0 DB7.DBW10 // rpm",
		"Motors[1].Fault Bool 12.0 DB7.DBX12.0",
		"Grid[0,1] Int 14.0 DB7.DBW14",
		"Grid[0,2] Int 16.0 DB7.DBW16",
		"Grid[1,1] Int 18.0 DB7.DBW18",
		"Grid[1,2] Int 20.0 DB7.DBW20",
		"Names[1] String[3] 22.0 DB7.DBB22",
		"Names[2] String[3] 28.0 DB7.DBB28",
		"Pump.On Bool 34.0 DB7.DBX34.0",
		"Pump.Speed Int 36.0 DB7.DBW36 // rpm",
		"Pump.Fault Bool 38.0 DB7.DBX38.0",
	})
	p := blocks[1]
	if p.Name != "Params" || p.Number != 0 || p.Size != 6 {
		t.Errorf("block %q number %d size %d, want Params 0 6", p.Name, p.Number, p.Size)
	}
	checkLayout(t, layout(p, 9), []string{
		"On Bool 0.0 DB9.DBX0.0",
		"Speed Int 2.0 DB9.DBW2 // rpm",
		"Fault Bool 4.0 DB9.DBX4.0",
	})
}

func TestDBTagsLoadAsAPointDatabase(t *testing.T) {
	b := parseFile(t, "kiln.db")[0]
	if _, err := b.Tags("kiln.db", "kiln1", 0); !errors.Is(err, tia.ErrNoNumber) {
		t.Fatalf("Tags without a number: %v, want ErrNoNumber", err)
	}
	res, err := b.Tags("kiln.db", "kiln1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tags) != len(b.Vars)-1 || len(res.Skipped) != 1 {
		t.Fatalf("%d tags, %d skipped", len(res.Tags), len(res.Skipped))
	}
	if s := res.Skipped[0]; !errors.Is(s, tia.ErrUnsupported) || s.Error() != "kiln.db:24: Stamp: type DTL has no plc type" {
		t.Errorf("skipped: %v", s)
	}
	sp := res.Tags[3]
	if sp.Name != "Kiln.Setpoint" || sp.Address != "DB3.DBW2" || sp.Type != plc.TypeInt || sp.Device != "kiln1" ||
		sp.Description != "Setpoint in °C" || sp.Access != plc.ReadOnly {
		t.Errorf("setpoint tag %+v", sp)
	}

	dir := t.TempDir()
	tags := filepath.Join(dir, "kiln.csv")
	if err := (&plc.PointDB{Tags: res.Tags}).WriteFile(tags); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "plant.yaml")
	if err := os.WriteFile(dev, []byte("devices: [{name: kiln1, driver: s7, endpoint: 127.0.0.1:102}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := plc.Load(dev, tags)
	if err != nil {
		t.Fatalf("Load(imported tags): %v", err)
	}
	if len(db.Tags) != len(res.Tags) {
		t.Fatalf("loaded %d tags", len(db.Tags))
	}
}

func TestDBSourceErrorsNameFileLineAndVariable(t *testing.T) {
	head := "DATA_BLOCK \"X\"\n"
	body := func(vars string) string { return head + "STRUCT\n" + vars + "END_STRUCT;\nBEGIN\nEND_DATA_BLOCK\n" }
	for _, tc := range []struct {
		name, src string
		sentinel  error
		want      string
	}{
		{"optimized", head + "{ S7_Optimized_Access := 'TRUE' }\nSTRUCT a : Int; END_STRUCT;\nBEGIN\nEND_DATA_BLOCK\n", tia.ErrOptimized,
			"x.db:1: X: optimized block access: "},
		{"unknown type", body("a : Int;\nb : Foo;\n"), tia.ErrSyntax, `x.db:4: b: unknown type "Foo"`},
		{"missing semicolon", body("a : Int\nb : Int;\n"), tia.ErrSyntax, `x.db:4: a: want ";", not "b"`},
		{"bounds", body("a : Array[5..1] of Int;\n"), tia.ErrSyntax, "x.db:3: a: array bounds 5..1: the upper bound is below the lower"},
		{"constant bound", body("a : Array[0..#N] of Int;\n"), tia.ErrSyntax, `x.db:3: a: array bound "#N": want a whole number`},
		{"undeclared user type", body("m : \"Motor\";\n"), tia.ErrSyntax, `x.db:3: m: unknown type "Motor"`},
		{"instance block", head + "\"FB_Pump\"\nBEGIN\nEND_DATA_BLOCK\n", tia.ErrSyntax, `x.db:2: X: block of type "FB_Pump": that type is not declared`},
		{"twice", body("a : Int;\nA : Bool;\n"), tia.ErrSyntax, "x.db:4: A: variable declared twice in X"},
		{"comment", body("a : Int; (* open\n"), tia.ErrSyntax, "x.db:3: comment (* not closed"},
		{"name", body("\"a : Int;\n"), tia.ErrSyntax, "x.db:3: name not closed on its line"},
		{"too large", body("a : Array[0..32000] of DInt;\n"), tia.ErrSyntax, "x.db:3: a: array too large for a data block"},
		{"string length", body("s : String[300];\n"), tia.ErrSyntax, `x.db:3: s: string length "300": want 1..254`},
		{"AT", body("a : Int;\nb AT a : Word;\n"), tia.ErrSyntax, "x.db:4: b: AT overlays are not supported"},
		{"no end", head + "STRUCT\na : Int;\nEND_STRUCT;\nBEGIN\n", tia.ErrSyntax, "x.db:1: X: END_DATA_BLOCK is missing"},
		{"no block", "// nothing\n", tia.ErrSyntax, "x.db:1: no DATA_BLOCK in the source"},
		{"function block", "FUNCTION_BLOCK \"F\"\n", tia.ErrSyntax, "x.db:1: a function_block is not a data block"},
		{"no declaration", head + "VERSION : 0.1\n", tia.ErrSyntax, "x.db:3: the data block has no declaration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tia.ParseDBSource("x.db", []byte(tc.src))
			var e *tia.Error
			if !errors.As(err, &e) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want a *tia.Error wrapping %v", err, tc.sentinel)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestDBSourceClassicVarSection(t *testing.T) {
	src := "DATA_BLOCK DB10\nVAR\n  a : Bool;\n  b : Word;\nEND_VAR\nBEGIN\nEND_DATA_BLOCK\n"
	blocks, err := tia.ParseDBSource("c.db", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, layout(blocks[0], 10), []string{"a Bool 0.0 DB10.DBX0.0", "b Word 2.0 DB10.DBW2"})
	if blocks[0].Number != 10 || blocks[0].Size != 4 {
		t.Errorf("number %d size %d", blocks[0].Number, blocks[0].Size)
	}
}

func FuzzParseDBSource(f *testing.F) {
	for _, name := range []string{"kiln.db", "recipe.db"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		blocks, err := tia.ParseDBSource("f.db", src)
		if err != nil {
			var e *tia.Error
			if !errors.As(err, &e) || e.Line < 1 || e.File != "f.db" {
				t.Fatalf("error %v (%T) is not a located *tia.Error", err, err)
			}
			return
		}
		for _, b := range blocks {
			prev := 0
			for _, v := range b.Vars {
				pos := 8*v.Offset + v.Bit
				if pos < prev || v.Bit > 7 || v.Offset >= b.Size || b.Size%2 != 0 {
					t.Fatalf("block %s: var %s at %d.%d after bit %d, size %d", b.Name, v.Path, v.Offset, v.Bit, prev, b.Size)
				}
				if v.Type.Valid() && v.Type.Kind != plc.Bool && v.Offset+v.Type.Size() > b.Size {
					t.Fatalf("block %s: var %s at %d (%d bytes) beyond size %d", b.Name, v.Path, v.Offset, v.Type.Size(), b.Size)
				}
				prev = pos
			}
		}
	})
}
