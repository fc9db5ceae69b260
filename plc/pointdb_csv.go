package plc

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kiln-iot/kiln/config"
)

// AddCSV parses one CSV table and appends its rows to db. file names the
// source in errors. The first row is a header; what the table holds
// follows from it:
//
//   - a column "address": tags. Columns (any order; name, device, address
//     and type required, the rest optional, empty cells mean "not set"):
//     name, device, address, type (BOOL, INT, REAL, STRING[20], …),
//     access (ro or rw), group (a scan group; empty: "default"),
//     deadband (engineering units, or percent with deadband_mode),
//     deadband_mode (absolute, percent, none), scale_raw_min,
//     scale_raw_max, scale_eng_min, scale_eng_max (all four or none),
//     min, max (write limits in engineering units), unit, description,
//     write_role (operator or engineer: the lowest role that may write),
//     critical (true or false: consoles confirm writes twice).
//   - a column "driver": devices. Columns name, driver, endpoint; every
//     other column is a driver option of that name (rack, slot, …).
//   - a column "rate": scan groups. Columns name, rate (100ms, 1s),
//     full_refresh (1m, or off).
//
// As spreadsheets export it: the separator is a comma, a semicolon or a
// tab, whichever the header uses; with semicolons a decimal comma ("0,5")
// is accepted; a UTF-8 byte-order mark is skipped; header names are
// case-insensitive and spaces in them count as underscores; lines starting
// with # and blank lines are skipped. Problems are reported like AddYAML's.
func (db *PointDB) AddCSV(file string, data []byte) error {
	var errs errList
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		errs.add(&source{file: file}, "", "not UTF-8 text (save the sheet as CSV UTF-8)")
		return errs.join()
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = sniffSeparator(data)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.ReuseRecord = false

	header, err := r.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		errs = append(errs, csvError(file, err))
		return errs.join()
	}
	headerLine, _ := r.FieldPos(0)
	hsrc := &source{file: file, line: headerLine}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		c := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(h)), " ", "_")
		cols[i] = c
		switch {
		case c == "":
			errs.add(hsrc, "column "+strconv.Itoa(i+1), "empty column name")
		case seen[c]:
			errs.add(hsrc, c, "column given twice")
		}
		seen[c] = true
	}
	var kind string
	switch {
	case seen["address"]:
		kind = "tag"
		for _, c := range cols {
			if c != "" && !slices.Contains(tagFields, c) {
				errs.add(hsrc, c, "unknown column for a tag table: want %s", strings.Join(tagFields, ", "))
			}
		}
		for _, c := range []string{"name", "device", "address", "type"} {
			if !seen[c] {
				errs.add(hsrc, c, "missing column")
			}
		}
	case seen["driver"]:
		kind = "device"
		if !seen["name"] {
			errs.add(hsrc, "name", "missing column")
		}
	case seen["rate"]:
		kind = "group"
		for _, c := range cols {
			if c != "" && c != "name" && c != "rate" && c != "full_refresh" {
				errs.add(hsrc, c, "unknown column for a scan group table: want name, rate, full_refresh")
			}
		}
		if !seen["name"] {
			errs.add(hsrc, "name", "missing column")
		}
	default:
		errs.add(hsrc, "", "cannot tell what the table holds: want a column address (tags), driver (devices) or rate (scan groups)")
		return errs.join()
	}
	if len(errs) > 0 {
		return errs.join() // rows would be misread
	}

	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, csvError(file, err))
			break
		}
		line, _ := r.FieldPos(0)
		src := &source{file: file, line: line, fields: map[string]fieldRef{}, bad: map[string]bool{}}
		if len(rec) > len(cols) {
			extra := strings.Join(rec[len(cols):], "")
			if strings.TrimSpace(extra) != "" {
				errs.add(src, "", "%d fields, but the header has %d columns", len(rec), len(cols))
				continue
			}
		}
		f := rawFields{}
		blank := true
		for i, c := range cols {
			if i >= len(rec) {
				break
			}
			v := strings.TrimSpace(rec[i])
			if v != "" {
				blank = false
			}
			f[c] = fieldText{text: v, line: line, name: c}
			src.fields[c] = fieldRef{line: line, name: c}
		}
		if blank {
			continue
		}
		p := parser{src: src, errs: &errs, decimalComma: r.Comma == ';'}
		switch kind {
		case "tag":
			db.Tags = append(db.Tags, p.tag(f))
			db.tagSrc = append(db.tagSrc, *src)
		case "device":
			dev := Device{Name: f["name"].text, Driver: f["driver"].text, Endpoint: f["endpoint"].text}
			for _, c := range cols {
				if c == "name" || c == "driver" || c == "endpoint" || f[c].text == "" {
					continue
				}
				if dev.Options == nil {
					dev.Options = map[string]string{}
				}
				dev.Options[c] = f[c].text
			}
			db.Devices = append(db.Devices, dev)
			db.deviceSrc = append(db.deviceSrc, *src)
		case "group":
			g := ScanGroup{Name: f["name"].text, Rate: p.duration(f, "rate", false), FullRefresh: p.duration(f, "full_refresh", true)}
			db.Groups = append(db.Groups, g)
			db.groupSrc = append(db.groupSrc, *src)
		}
	}
	return errs.join()
}

// sniffSeparator picks the separator the header line uses most: comma,
// semicolon or tab.
func sniffSeparator(data []byte) rune {
	for {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			if len(rest) == 0 {
				return ','
			}
			data = rest
			continue
		}
		best, n := ',', bytes.Count(line, []byte(","))
		for _, c := range []rune{';', '\t'} {
			if m := bytes.Count(line, []byte(string(c))); m > n {
				best, n = c, m
			}
		}
		return best
	}
}

// csvError turns an encoding/csv error into a *config.FieldError at its line.
func csvError(file string, err error) *config.FieldError {
	ce := &config.FieldError{File: file, Msg: "CSV syntax: " + err.Error(), Err: err}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		ce.Line = pe.Line
		ce.Msg = "CSV syntax: " + pe.Err.Error()
		if pe.Column > 0 {
			ce.Msg += " (at byte " + strconv.Itoa(pe.Column) + " of the line)"
		}
	}
	return ce
}
