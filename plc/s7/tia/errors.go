package tia

import (
	"errors"
	"strconv"

	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// Sentinel errors, wrapped by *Error.
var (
	// ErrSyntax: the DB source cannot be read.
	ErrSyntax = errors.New("tia: syntax error")
	// ErrOptimized: the block has optimized access, so its variables have
	// no offsets.
	ErrOptimized = errors.New("tia: optimized block access")
	// ErrNoNumber: the block's number is neither in the source nor given.
	ErrNoNumber = errors.New("tia: no data block number")
	// ErrUnsupported: an entry has a type no plc tag carries (DTL,
	// Timer, Counter, WString, structures in a tag table); it is skipped.
	ErrUnsupported = errors.New("tia: type not imported")
	// ErrTagTable: a row or column of a tag table is wrong.
	ErrTagTable = errors.New("tia: bad tag table")
)

// Error is one problem of an imported file, located by line (DB sources)
// or by sheet and row (Excel tag tables), and the variable or column.
type Error struct {
	File string
	// Line is the 1-based line in a DB source; 0 in a sheet.
	Line int
	// Sheet and Row (1-based, the header is row 1) locate a problem in an
	// Excel file.
	Sheet string
	Row   int
	// Field is the variable (DB source) or the column (tag table).
	Field string
	Msg   string
	// Err is a sentinel of this package, or the underlying error (an
	// *s7.AddressError, *plc.TypeError) wrapping none.
	Err error
}

// Error formats the problem as "file:line: field: msg", or
// `file: sheet "PLC Tags" row 5: field: msg`.
func (e *Error) Error() string {
	if e.Sheet != "" {
		return yamlconf.Format(e.File+": sheet "+strconv.Quote(e.Sheet)+" row "+strconv.Itoa(e.Row), 0, e.Field, e.Msg)
	}
	return yamlconf.Format(e.File, e.Line, e.Field, e.Msg)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
