package s7

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/internal/wire"
)

// ReturnCode is the return code the PLC gives each item of a read or
// write. It implements error, so callers can test an *ItemError with
// errors.Is(err, s7.CodeObjectDoesNotExist).
type ReturnCode byte

// Item return codes of S7 CPUs.
const (
	CodeHardwareFault      ReturnCode = wire.RCHardwareFault
	CodeAccessDenied       ReturnCode = wire.RCAccessDenied // also when PUT/GET is disabled on S7-1200/1500
	CodeAddressOutOfRange  ReturnCode = wire.RCAddressOutOfRange
	CodeTypeNotSupported   ReturnCode = wire.RCTypeNotSupported
	CodeTypeInconsistent   ReturnCode = wire.RCTypeInconsistent
	CodeObjectDoesNotExist ReturnCode = wire.RCObjectDoesNotExist
	CodeSuccess            ReturnCode = wire.RCSuccess
)

// Text names the code in words; constant strings, so qualities built from
// them do not allocate.
func (c ReturnCode) Text() string {
	switch c {
	case CodeHardwareFault:
		return "hardware fault"
	case CodeAccessDenied:
		return "access denied"
	case CodeAddressOutOfRange:
		return "address out of range"
	case CodeTypeNotSupported:
		return "data type not supported"
	case CodeTypeInconsistent:
		return "data type inconsistent"
	case CodeObjectDoesNotExist:
		return "object does not exist"
	case CodeSuccess:
		return "success"
	case wire.RCReserved:
		return "reserved"
	}
	return "unknown return code"
}

// Error implements error.
func (c ReturnCode) Error() string {
	return "s7: item return code 0x" + strconv.FormatUint(uint64(c), 16) + " (" + c.Text() + ")"
}

// ItemError is the PLC's refusal of one item of a read or write.
type ItemError struct {
	// Address is the tag's address as given.
	Address string
	Code    ReturnCode
}

// Error implements error.
func (e *ItemError) Error() string {
	return fmt.Sprintf("s7: %s: PLC answered item error 0x%02x (%s)", e.Address, byte(e.Code), e.Code.Text())
}

// Unwrap returns the code, for errors.Is(err, s7.CodeAccessDenied).
func (e *ItemError) Unwrap() error { return e.Code }

// JobError is the PLC's refusal of a whole request: the error class and
// code of the S7 header (for example class 0x81 code 0x04 from a CPU whose
// PUT/GET access is disabled).
type JobError = wire.HeaderError

// ErrBadResponse is wrapped by errors about answers the driver cannot use
// (wrong reference, short or malformed telegram). The connection is
// dropped and rebuilt after one.
var ErrBadResponse = errors.New("s7: bad response from PLC")

// itemQuality is the quality of a tag whose item failed with code.
func itemQuality(code ReturnCode) plc.Quality {
	return plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: uint32(code), Detail: code.Text()}
}

// jobQuality is the quality of a tag whose request the PLC refused.
func jobQuality(e *JobError) plc.Quality {
	return plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: uint32(e.Class)<<8 | uint32(e.Code), Detail: wire.ClassText(e.Class)}
}
