package tia

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
)

// TagSheet is the sheet of TIA Portal's tag table export that holds the
// tags; its other sheets hold constants.
const TagSheet = "PLC Tags"

// Columns of the tag sheet that ReadTagTable uses. TIA Portal writes
// them in this order, followed by Hmi Visible, Hmi Accessible, Hmi
// Writeable, Typeobject ID and Version ID, which are not imported.
const (
	ColName    = "Name"
	ColPath    = "Path"
	ColType    = "Data Type"
	ColAddress = "Logical Address"
	ColComment = "Comment"
)

// ReadTagTable reads a PLC tag table as TIA Portal exports it to Excel
// (.xlsx): the sheet "PLC Tags" (or the first sheet with the columns
// Name, Data Type and Logical Address, found by header name in any order
// and case). Each row becomes a read-only tag on device named as in the
// Name column, at its Logical Address without the % ("%MW10" → "MW10",
// "%I0.3" → "I0.3"), with the Comment as description. Rows whose type no
// plc tag carries (Timer, Counter, DTL, structures, arrays) go to
// Skipped. Every problem is an
// *Error with the sheet, row and column; all are joined.
func ReadTagTable(file string, r io.Reader, device string) (Result, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return Result{}, &Error{File: file, Msg: "not an Excel workbook (.xlsx): " + err.Error(), Err: err}
	}
	defer f.Close()
	sheet, rows, cols, err := findTagSheet(file, f)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var errs []error
	seen := map[string]int{}
	for i, row := range rows[1:] {
		n := i + 2
		cell := func(col string) string {
			if c := cols[col]; c >= 0 && c < len(row) {
				return strings.TrimSpace(row[c])
			}
			return ""
		}
		fail := func(col string, err error, format string, args ...any) {
			errs = append(errs, &Error{File: file, Sheet: sheet, Row: n, Field: col, Msg: fmt.Sprintf(format, args...), Err: err})
		}
		name, typeText, addrText := cell(ColName), cell(ColType), cell(ColAddress)
		if name == "" && typeText == "" && addrText == "" {
			continue // an empty row
		}
		if name == "" {
			fail(ColName, ErrTagTable, "empty name")
			continue
		}
		if first, dup := seen[name]; dup {
			fail(ColName, ErrTagTable, "tag %q given twice (first in row %d)", name, first)
			continue
		}
		seen[name] = n
		addr := strings.TrimPrefix(addrText, "%")
		if addr == "" {
			fail(ColAddress, ErrTagTable, "tag %q: empty address", name)
			continue
		}
		t, ok := tableType(typeText)
		if !ok {
			if typeText == "" {
				fail(ColType, ErrTagTable, "tag %q: empty data type", name)
				continue
			}
			res.Skipped = append(res.Skipped, &Error{File: file, Sheet: sheet, Row: n, Field: ColType, Msg: fmt.Sprintf("tag %q: type %s has no plc type", name, typeText), Err: ErrUnsupported})
			continue
		}
		if _, err := s7.ParseAddress(addr, t); err != nil {
			fail(ColAddress, err, "tag %q: %v", name, err)
			continue
		}
		res.Tags = append(res.Tags, plc.Tag{Name: name, Device: device, Address: addr, Type: t, Description: cell(ColComment)})
	}
	return res, errors.Join(errs...)
}

// findTagSheet returns the tag sheet's name, rows and the index of each
// column (-1 when absent).
func findTagSheet(file string, f *excelize.File) (string, [][]string, map[string]int, error) {
	sheets := f.GetSheetList()
	for i, s := range sheets {
		if s == TagSheet && i > 0 {
			sheets[0], sheets[i] = sheets[i], sheets[0]
		}
	}
	for _, s := range sheets {
		rows, err := f.GetRows(s)
		if err != nil {
			return "", nil, nil, &Error{File: file, Sheet: s, Row: 1, Msg: "cannot read the sheet: " + err.Error(), Err: err}
		}
		if len(rows) == 0 {
			continue
		}
		cols := map[string]int{ColName: -1, ColPath: -1, ColType: -1, ColAddress: -1, ColComment: -1}
		for i, h := range rows[0] {
			for c := range cols {
				if strings.EqualFold(strings.TrimSpace(h), c) && cols[c] < 0 {
					cols[c] = i
				}
			}
		}
		var missing []string
		for _, c := range []string{ColName, ColType, ColAddress} {
			if cols[c] < 0 {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			return s, rows, cols, nil
		}
		if s == TagSheet {
			return "", nil, nil, &Error{File: file, Sheet: s, Row: 1, Field: missing[0], Msg: fmt.Sprintf("column missing (the header needs %s, %s and %s)", ColName, ColType, ColAddress), Err: ErrTagTable}
		}
	}
	return "", nil, nil, &Error{File: file, Msg: fmt.Sprintf("no sheet %q or other sheet with the columns %s, %s and %s", TagSheet, ColName, ColType, ColAddress), Err: ErrTagTable}
}

// tableType maps a tag table's data type ("Bool", "Int", "String[20]",
// "Time") onto a plc type, as a DB source's variable of that type.
func tableType(s string) (plc.DataType, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if strings.HasPrefix(u, "STRING") {
		rest := strings.TrimSpace(u[len("STRING"):])
		if rest == "" {
			return plc.StringType(plc.DefaultStringLen), true
		}
		if !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
			return plc.DataType{}, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(rest[1 : len(rest)-1]))
		if err != nil || n < 1 || n > plc.DefaultStringLen {
			return plc.DataType{}, false
		}
		return plc.StringType(n), true
	}
	e, ok := elementaries[u]
	return e.plc, ok && e.plc.Valid()
}
