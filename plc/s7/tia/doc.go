// Package tia imports S7 tags from TIA Portal's exports into kiln's point
// database, so commissioning a PLC is a file conversion instead of typing.
//
// ReadTagTable reads a PLC tag table exported to Excel (.xlsx, sheet "PLC
// Tags": Name, Path, Data Type, Logical Address, Comment, …) into tags at
// their I/Q/M addresses.
//
// ParseDBSource reads a data block's source (.db, .scl: "Generate source
// from blocks") and lays its variables out as the CPU does for a block
// without optimized access: BOOLs share a byte, bit by bit; 8-bit types
// take the next byte; 16-bit and larger types and strings start at an
// even byte; a STRING[n] takes n+2 bytes (maximum and actual length); an
// array or struct starts at an even byte and takes an even number of
// bytes, the elements of an array of 16-bit or larger types or strings
// each starting at an even byte; user types (TYPE … END_TYPE in the same
// text) are laid out as structs. DataBlock.Tags turns the variables into
// tags at DB<n>.DBX/DBB/DBW/DBD addresses:
//
//	blocks, err := tia.ParseDBSource("kiln.db", src)
//	res, err := blocks[0].Tags("kiln.db", "kiln1", 10) // DB10 on device kiln1
//	err = (&plc.PointDB{Tags: res.Tags}).WriteFile("kiln-tags.csv")
//
// Imported tags are read-only (make setpoints writable in the file) and
// carry the comment as description. Entries no plc type carries (DTL,
// DATE_AND_TIME, WSTRING, timers, counters) are listed in Result.Skipped.
// Every problem is an *Error naming the file, the line (or sheet and
// row) and the variable or column. tagctl import writes the file from
// the command line.
package tia
