package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/tia"
)

// Flags of import.
var (
	importDB  *int
	importOut *string
)

func init() {
	subcommands["import"] = Subcommand{
		Usage: "import [-device NAME] [-db N] [-o FILE.yaml|FILE.csv] TAGS.xlsx|BLOCK.db...",
		Flags: func(fs *flag.FlagSet) {
			importDB = fs.Int("db", 0, "import: number of the data block of a .db source that names it symbolically")
			importOut = fs.String("o", "", "import: point database file to write, YAML or CSV by extension (default: YAML on stdout)")
		},
		Run:     importCmd,
		Offline: true,
	}
}

// importCmd converts TIA Portal exports (an Excel PLC tag table, a data
// block's source) into one point-database tag file for device -device.
// Entries without a plc type are reported on stderr and left out.
func importCmd(_ context.Context, cmd *Command) int {
	if len(cmd.Args) == 0 {
		return cmd.Usagef("import: name the files to import (.xlsx tag tables, .db/.scl data block sources)")
	}
	if *importDB < 0 || *importDB > 65535 {
		return cmd.Usagef("import: -db %d: want a data block number 1..65535", *importDB)
	}
	device := cmd.DeviceName
	if device == "" {
		device = "plc"
	}
	var tags []plc.Tag
	var skipped []*tia.Error
	var errs []error
	for _, file := range cmd.Args {
		res, err := importFile(file, device)
		errs = append(errs, err)
		tags = append(tags, res.Tags...)
		skipped = append(skipped, res.Skipped...)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(cmd.Stderr, "tagctl: import: %v\n", err)
		return exitFail
	}
	for _, s := range skipped {
		fmt.Fprintf(cmd.Stderr, "tagctl: import: skipped %v\n", s)
	}
	return writeTags(cmd, "import", tags, *importOut)
}

func importFile(file, device string) (tia.Result, error) {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".xlsx":
		f, err := os.Open(file)
		if err != nil {
			return tia.Result{}, err
		}
		defer f.Close()
		return tia.ReadTagTable(file, f, device)
	case ".db", ".scl", ".awl", ".txt":
		src, err := os.ReadFile(file)
		if err != nil {
			return tia.Result{}, err
		}
		blocks, err := tia.ParseDBSource(file, src)
		if err != nil {
			return tia.Result{}, err
		}
		var all tia.Result
		var errs []error
		for _, b := range blocks {
			n := b.Number
			if n == 0 && len(blocks) == 1 {
				n = *importDB
			}
			res, err := b.Tags(file, device, n)
			errs = append(errs, err)
			all.Tags = append(all.Tags, res.Tags...)
			all.Skipped = append(all.Skipped, res.Skipped...)
		}
		return all, errors.Join(errs...)
	}
	return tia.Result{}, fmt.Errorf("%s: unknown file kind: want .xlsx (tag table) or .db/.scl (data block source)", file)
}

// writeTags writes tags to the file out, or as YAML to stdout when out
// is empty; tags of one name given twice are an error.
func writeTags(cmd *Command, what string, tags []plc.Tag, out string) int {
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t.Name] {
			fmt.Fprintf(cmd.Stderr, "tagctl: %s: tag %q found twice\n", what, t.Name)
			return exitFail
		}
		seen[t.Name] = true
	}
	db := &plc.PointDB{Tags: tags}
	var err error
	if out == "" {
		err = db.WriteYAML(cmd.Stdout)
	} else {
		err = db.WriteFile(out)
	}
	if err != nil {
		fmt.Fprintf(cmd.Stderr, "tagctl: %s: %v\n", what, err)
		return exitFail
	}
	if out != "" {
		fmt.Fprintf(cmd.Stderr, "tagctl: %s: wrote %d tags to %s\n", what, len(tags), out)
	}
	return exitOK
}
