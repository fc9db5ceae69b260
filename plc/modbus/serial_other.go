//go:build !linux

package modbus

import (
	"errors"
	"os"
)

// errSerialUnsupported is returned for mode rtu on a system whose serial
// ports the driver cannot configure yet (the termios code is Linux's).
var errSerialUnsupported = errors.New("modbus: serial ports (mode rtu) are supported on Linux only; use an RTU-over-TCP gateway")

// openSerial refuses: see errSerialUnsupported.
func openSerial(string, Config) (*os.File, error) { return nil, errSerialUnsupported }
