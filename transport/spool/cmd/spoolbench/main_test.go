package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunPrintsBothTables(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-dir", t.TempDir(), "-time", "60ms", "-recovery", "1MiB"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, row := range []string{"| 1 | ", "| 64 | ", "| 1024 | ", "| page cache warm | "} {
		if !strings.Contains(text, row) {
			t.Errorf("no row %q in\n%s", row, text)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-recovery", "lots"},
		{"-recovery", "-1GiB"},
		{"-recovery", "99999999999GiB"},
		{"-time", "0s"},
		{"-nosuchflag"},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "4KiB": 4096, "3MiB": 3 << 20, "1GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
