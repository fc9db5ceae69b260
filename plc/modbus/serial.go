//go:build linux

package modbus

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

var bauds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
}

// openSerial opens a serial device (or one end of a pseudo-terminal
// pair) raw, with the line settings of c. The *os.File it returns has
// read deadlines, as terminals are pollable.
func openSerial(path string, c Config) (*os.File, error) {
	speed, ok := bauds[c.Baud]
	if !ok {
		return nil, fmt.Errorf("modbus: baud rate %d not supported", c.Baud)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("modbus: open serial port: %w", err)
	}
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			serr = err
			return
		}
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CBAUD
		t.Cflag |= unix.CREAD | unix.CLOCAL | speed
		t.Cflag |= map[int]uint32{5: unix.CS5, 6: unix.CS6, 7: unix.CS7, 8: unix.CS8}[c.DataBits]
		switch strings.ToUpper(c.Parity) {
		case "E":
			t.Cflag |= unix.PARENB
		case "O":
			t.Cflag |= unix.PARENB | unix.PARODD
		}
		if c.StopBits == 2 {
			t.Cflag |= unix.CSTOPB
		}
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		serr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("modbus: configure serial port %s: %w", path, err)
	}
	return f, nil
}
