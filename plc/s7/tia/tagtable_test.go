package tia_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/tia"
)

// tiaHeader is the header row of TIA Portal's "PLC Tags" sheet.
var tiaHeader = []any{"Name", "Path", "Data Type", "Logical Address", "Comment", "Hmi Visible", "Hmi Accessible", "Hmi Writeable", "Typeobject ID", "Version ID"}

// workbook builds an .xlsx as TIA Portal exports a tag table: a sheet of
// constants first, then "PLC Tags" with rows below tiaHeader.
func workbook(t *testing.T, sheet string, header []any, rows [][]any) *bytes.Buffer {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", "User Constants"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSheetRow("User Constants", "A1", &[]any{"Name", "Path", "Data Type", "Value", "Comment"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSheetRow("User Constants", "A2", &[]any{"MaxZones", "Default tag table", "Int", "8", ""}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewSheet(sheet); err != nil {
		t.Fatal(err)
	}
	for i, r := range append([][]any{header}, rows...) {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func row(name, typ, addr, comment string) []any {
	return []any{name, "Default tag table", typ, addr, comment, "True", "True", "True", "", ""}
}

func TestTagTableImportsEveryRowWithAPlcType(t *testing.T) {
	wb := workbook(t, tia.TagSheet, tiaHeader, [][]any{
		row("Motor_On", "Bool", "%Q0.0", "Main motor"),
		row("Speed", "Int", "%MW10", ""),
		row("Temp", "Real", "%MD20", "Oven temperature"),
		row("Batch", "String[10]", "%MB30", ""),
		row("Start", "Bool", "%I1.3", ""),
		{}, // an empty row
		row("Counts", "DWord", "%ID4", ""),
		row("Runtime", "Time", "%MD50", "ms"),
		row("T_Delay", "Timer", "%T1", ""),
		row("Stamp", "DTL", "%MB100", ""),
	})
	res, err := tia.ReadTagTable("tags.xlsx", wb, "line1")
	if err != nil {
		t.Fatal(err)
	}
	want := []plc.Tag{
		{Name: "Motor_On", Device: "line1", Address: "Q0.0", Type: plc.TypeBool, Description: "Main motor"},
		{Name: "Speed", Device: "line1", Address: "MW10", Type: plc.TypeInt},
		{Name: "Temp", Device: "line1", Address: "MD20", Type: plc.TypeReal, Description: "Oven temperature"},
		{Name: "Batch", Device: "line1", Address: "MB30", Type: plc.StringType(10)},
		{Name: "Start", Device: "line1", Address: "I1.3", Type: plc.TypeBool},
		{Name: "Counts", Device: "line1", Address: "ID4", Type: plc.TypeDWord},
		{Name: "Runtime", Device: "line1", Address: "MD50", Type: plc.TypeDInt, Description: "ms"},
	}
	if len(res.Tags) != len(want) {
		t.Fatalf("%d tags: %+v", len(res.Tags), res.Tags)
	}
	for i := range want {
		if res.Tags[i] != want[i] {
			t.Errorf("tag %d = %+v, want %+v", i, res.Tags[i], want[i])
		}
		if err := s7.CheckAddress(res.Tags[i].Address, res.Tags[i].Type); err != nil {
			t.Errorf("tag %d: %v", i, err)
		}
	}
	var skipped []string
	for _, s := range res.Skipped {
		if !errors.Is(s, tia.ErrUnsupported) {
			t.Errorf("skipped %v does not wrap ErrUnsupported", s)
		}
		skipped = append(skipped, s.Error())
	}
	wantSkipped := []string{
		`tags.xlsx: sheet "PLC Tags" row 10: Data Type: tag "T_Delay": type Timer has no plc type`,
		`tags.xlsx: sheet "PLC Tags" row 11: Data Type: tag "Stamp": type DTL has no plc type`,
	}
	if strings.Join(skipped, "\n") != strings.Join(wantSkipped, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(skipped, "\n"), strings.Join(wantSkipped, "\n"))
	}
}

func TestTagTableReportsEveryBadRowWithSheetRowAndColumn(t *testing.T) {
	wb := workbook(t, tia.TagSheet, tiaHeader, [][]any{
		row("Good", "Int", "%MW0", ""),
		row("", "Int", "%MW2", ""),
		row("Wide", "Int", "%MD4", ""),
		row("Good", "Int", "%MW8", ""),
		row("NoType", "", "%MW10", ""),
		row("NoAddr", "Int", "", ""),
	})
	_, err := tia.ReadTagTable("tags.xlsx", wb, "line1")
	want := []string{
		`tags.xlsx: sheet "PLC Tags" row 3: Name: empty name`,
		`tags.xlsx: sheet "PLC Tags" row 4: Logical Address: tag "Wide": s7: bad address`,
		`tags.xlsx: sheet "PLC Tags" row 5: Name: tag "Good" given twice (first in row 2)`,
		`tags.xlsx: sheet "PLC Tags" row 6: Data Type: tag "NoType": empty data type`,
		`tags.xlsx: sheet "PLC Tags" row 7: Logical Address: tag "NoAddr": empty address`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("errors:\n%v", err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want %q…", i, got[i], want[i])
		}
	}
	var ae *s7.AddressError
	if !errors.As(err, &ae) {
		t.Error("the address error is not wrapped")
	}
}

func TestTagTableFindsItsSheetByColumnsAndRefusesOtherFiles(t *testing.T) {
	header := []any{"logical address", "NAME", "data type"} // other order and case
	wb := workbook(t, "Tags", header, [][]any{{"%MW4", "Level", "UInt"}})
	res, err := tia.ReadTagTable("t.xlsx", wb, "d")
	if err != nil || len(res.Tags) != 1 || res.Tags[0].Address != "MW4" || res.Tags[0].Type.Kind != plc.UInt {
		t.Fatalf("res %+v, err %v", res, err)
	}

	wb = workbook(t, tia.TagSheet, []any{"Name", "Data Type"}, nil)
	_, err = tia.ReadTagTable("t.xlsx", wb, "d")
	if !errors.Is(err, tia.ErrTagTable) || err.Error() != `t.xlsx: sheet "PLC Tags" row 1: Logical Address: column missing (the header needs Name, Data Type and Logical Address)` {
		t.Errorf("missing column: %v", err)
	}

	_, err = tia.ReadTagTable("t.xlsx", strings.NewReader("Name,Data Type\n"), "d")
	var e *tia.Error
	if !errors.As(err, &e) || e.File != "t.xlsx" {
		t.Errorf("not a workbook: %v", err)
	}
}
