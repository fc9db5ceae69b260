package spool

import (
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/transport"
)

var (
	// ErrClosed is returned by calls on a closed spool, reader, publisher
	// or subscriber. It is transport.ErrClosed.
	ErrClosed = transport.ErrClosed
	// ErrLocked is returned by Open when another Spool (in this or another
	// process) holds the directory.
	ErrLocked = errors.New("spool: directory in use by another spool")
	// ErrReaderBusy is returned by OpenReader while another reader is open:
	// a spool has exactly one consumer (one forwarder or one subscriber).
	ErrReaderBusy = errors.New("spool: a reader is already open")
	// ErrTooLarge is returned by Append for a record above MaxRecordBytes.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrNoSpace matches (errors.Is) a *StorageError caused by a full
	// file system (ENOSPC, EDQUOT).
	ErrNoSpace = errors.New("spool: no space left on device")
	// ErrReadOnly matches a *StorageError caused by a read-only file
	// system (EROFS).
	ErrReadOnly = errors.New("spool: read-only file system")
	// ErrBadMessage is returned when a record does not hold an encoded
	// transport.Message.
	ErrBadMessage = errors.New("spool: bad message record")
	// ErrBadAck is returned by Reader.Ack for a sequence number the reader
	// has not handed out.
	ErrBadAck = errors.New("spool: ack of a record not yet read")
)

// StorageError is a failed file operation. What was stored before it is
// intact: a failed Append leaves no partial record behind, and Append
// works again once the cause (a full disk) is gone.
type StorageError struct {
	Op   string // "write", "fsync", "create", "truncate", ...
	Path string
	Err  error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("spool: %s %s: %v", e.Op, e.Path, e.Err)
}

func (e *StorageError) Unwrap() error { return e.Err }

// errLockHeld is returned by lockFile when another open file holds the
// lock; Open reports it as ErrLocked.
var errLockHeld = errors.New("spool: lock held")

// Is makes errors.Is(err, ErrNoSpace) and errors.Is(err, ErrReadOnly)
// work on the underlying errno (or Windows error code).
func (e *StorageError) Is(target error) bool {
	switch target {
	case ErrNoSpace:
		return isNoSpace(e.Err)
	case ErrReadOnly:
		return isReadOnly(e.Err)
	}
	return false
}
