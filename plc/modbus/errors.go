package modbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/kiln-iot/kiln/plc"
)

// Exception is a Modbus exception code. It implements error, so callers
// can test an *ExceptionError with errors.Is(err,
// modbus.ExIllegalDataAddress).
type Exception byte

// The exception codes of the Modbus application protocol.
const (
	ExIllegalFunction        Exception = 0x01
	ExIllegalDataAddress     Exception = 0x02
	ExIllegalDataValue       Exception = 0x03
	ExDeviceFailure          Exception = 0x04
	ExAcknowledge            Exception = 0x05
	ExDeviceBusy             Exception = 0x06
	ExNegativeAcknowledge    Exception = 0x07
	ExMemoryParityError      Exception = 0x08
	ExGatewayPathUnavailable Exception = 0x0A
	ExGatewayTargetFailed    Exception = 0x0B
)

// Text names the code; constant strings, so qualities built from them
// do not allocate.
func (e Exception) Text() string {
	switch e {
	case ExIllegalFunction:
		return "illegal function"
	case ExIllegalDataAddress:
		return "illegal data address"
	case ExIllegalDataValue:
		return "illegal data value"
	case ExDeviceFailure:
		return "server device failure"
	case ExAcknowledge:
		return "acknowledge"
	case ExDeviceBusy:
		return "server device busy"
	case ExNegativeAcknowledge:
		return "negative acknowledge"
	case ExMemoryParityError:
		return "memory parity error"
	case ExGatewayPathUnavailable:
		return "gateway path unavailable"
	case ExGatewayTargetFailed:
		return "gateway target device failed to respond"
	}
	return "unknown exception"
}

// Error implements error.
func (e Exception) Error() string {
	return "modbus: exception 0x" + strconv.FormatUint(uint64(e), 16) + " (" + e.Text() + ")"
}

// ExceptionError is a device's exception answer to one request.
type ExceptionError struct {
	Unit     uint8
	Function byte
	// Register is the first register (or coil) of the request.
	Register uint16
	Code     Exception
}

// Error implements error.
func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: unit %d answered function 0x%02x at %d with exception 0x%02x (%s)", e.Unit, e.Function, e.Register, byte(e.Code), e.Code.Text())
}

// Unwrap returns the code, for errors.Is(err, modbus.ExDeviceBusy).
func (e *ExceptionError) Unwrap() error { return e.Code }

var (
	// ErrBadResponse is wrapped by errors about answers the driver cannot
	// use (malformed, wrong function or unit).
	ErrBadResponse = errors.New("modbus: bad response from device")
	// ErrTimeout is wrapped when a request got no answer within
	// Config.Timeout.
	ErrTimeout = errors.New("modbus: request timed out")
	// ErrBitWrite is returned for a write of a bit in a register to a
	// device without Config.ReadModifyWrite.
	ErrBitWrite = errors.New("modbus: writing a bit in a register needs read_modify_write (not atomic)")
	// ErrReadOnlyTable is returned for writes to input registers and
	// discrete inputs.
	ErrReadOnlyTable = errors.New("modbus: table is read-only")
)

// exceptionQuality is the quality of a tag whose request got code.
func exceptionQuality(code Exception) plc.Quality {
	return plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: uint32(code), Detail: code.Text()}
}

func isException(err error) bool { return errors.As(err, new(*ExceptionError)) }

func isCtx(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
