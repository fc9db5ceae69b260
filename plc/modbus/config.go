package modbus

import (
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus/internal/wire"
)

// DefaultPort is the Modbus TCP port.
const DefaultPort = 502

// Transport modes (Config.Mode).
const (
	ModeTCP        = "tcp"        // Modbus TCP (MBAP header), the default
	ModeRTU        = "rtu"        // Modbus RTU on a serial port
	ModeRTUOverTCP = "rtuovertcp" // RTU frames over TCP, as serial gateways speak
)

// NoGap, as Config.Gap, reads only adjacent or overlapping registers in
// one request.
const NoGap = -1

// Config holds the settings of one Modbus device (or one gateway with
// several units). The zero value of every field but Endpoint means the
// documented default. In a point database the endpoint is the device's
// and the other settings are the device's options by the yaml names
// below (nested ones dotted: retry.max, breaker.open_for), durations as
// Go durations ("5ms"); see ConfigFromDevice.
type Config struct {
	// Endpoint is host or host:port (port 502 by default), or the serial
	// device of mode rtu (/dev/ttyUSB0). Required.
	Endpoint string `yaml:"endpoint"`
	// Mode is "tcp" (default), "rtu" (the endpoint is a serial device
	// such as /dev/ttyUSB0) or "rtuovertcp".
	Mode string `yaml:"mode"`
	// Unit is the unit id of addresses without "unit!" (default 1; write
	// 0!HR1 for unit 0).
	Unit int `yaml:"unit"`
	// ByteOrder is the order of values without their own: ABCD (the
	// default, big-endian), CDAB, BADC or DCBA.
	ByteOrder string `yaml:"byte_order"`
	// ZeroBased makes register numbers protocol addresses (HR0, 40000 are
	// the first); by default they count from 1 (HR1, 40001).
	ZeroBased bool `yaml:"zero_based"`
	// Gap is the most unused registers read between two tags to save a
	// request; 0 (the default) fills any gap that fits in a request,
	// NoGap (-1) reads only adjacent registers together.
	Gap int `yaml:"gap"`
	// MaxRegisters and MaxCoils bound each read (defaults 125 and 2000,
	// the protocol's limits); set them lower for devices that want less.
	MaxRegisters int `yaml:"max_registers"`
	MaxCoils     int `yaml:"max_coils"`
	// InFlight is how many requests may wait for their answers at once on
	// the TCP connection (default 1); answers are matched by transaction
	// id. Only for mode tcp, and only for devices or gateways that queue
	// requests.
	InFlight int `yaml:"in_flight"`
	// SingleWrites writes one register or coil with FC06 or FC05 (default:
	// FC16 and FC15 always, which every device that accepts multi-register
	// values must understand).
	SingleWrites bool `yaml:"single_writes"`
	// ReadModifyWrite allows writes of a bit in a register: the register
	// is read, the bit changed and the register written back. It is not
	// atomic: a change the device makes to the register's other bits
	// between the read and the write is lost.
	ReadModifyWrite bool `yaml:"read_modify_write"`
	// Delay is the pause between the end of an answer and the next
	// request (default 0), for slow serial devices.
	Delay time.Duration `yaml:"delay"`
	// Timeout bounds each request (default 1s); ConnectTimeout each
	// connection attempt (default 5s).
	Timeout        time.Duration `yaml:"timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Retry shapes the delays between connection attempts (defaults
	// 100ms growing to 30s, with jitter).
	Retry backoff.Config `yaml:"retry"`
	// Breaker is the circuit breaker: Failures consecutive failed
	// requests open it (default 5), and it stays open for OpenFor before
	// one probe (default 10s). Exceptions do not count: the device
	// answered.
	Breaker breaker.Config `yaml:"breaker"`
	// Serial line of mode rtu: Baud (default 9600), DataBits (8), Parity
	// "N", "E" (default) or "O", StopBits (1).
	Baud     int    `yaml:"baud"`
	DataBits int    `yaml:"data_bits"`
	Parity   string `yaml:"parity"`
	StopBits int    `yaml:"stop_bits"`
}

// Validate reports every bad setting as a *config.FieldError with its
// yaml name.
func (c Config) Validate() error {
	var p config.Problems
	if c.Endpoint == "" {
		p.Add("endpoint", "is required (host:port, or the serial device of mode rtu such as /dev/ttyUSB0)")
	}
	switch c.Mode {
	case "", ModeTCP, ModeRTU, ModeRTUOverTCP:
	default:
		p.Add("mode", "%q is not tcp, rtu or rtuovertcp", c.Mode)
	}
	if c.Unit < 0 || c.Unit > 255 {
		p.Add("unit", "%d not in 0..255", c.Unit)
	}
	if c.ByteOrder != "" {
		if _, err := ParseOrder(c.ByteOrder); err != nil {
			p.Add("byte_order", "%q is not ABCD, CDAB, BADC or DCBA", c.ByteOrder)
		}
	}
	if c.Gap < NoGap {
		p.Add("gap", "%d: want a number of registers >= 0, or -1 (none)", c.Gap)
	}
	if c.MaxRegisters < 0 || c.MaxRegisters > wire.MaxReadRegisters {
		p.Add("max_registers", "%d not in 1..%d", c.MaxRegisters, wire.MaxReadRegisters)
	}
	if c.MaxCoils < 0 || c.MaxCoils > wire.MaxReadBits {
		p.Add("max_coils", "%d not in 1..%d", c.MaxCoils, wire.MaxReadBits)
	}
	if c.InFlight < 0 || c.InFlight > 256 {
		p.Add("in_flight", "%d not in 1..256", c.InFlight)
	} else if c.InFlight > 1 && c.Mode != "" && c.Mode != ModeTCP {
		p.Add("in_flight", "%d: several requests in flight need mode tcp, not %s", c.InFlight, c.Mode)
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"delay", c.Delay}, {"timeout", c.Timeout}, {"connect_timeout", c.ConnectTimeout}} {
		if d.v < 0 {
			p.Add(d.path, "%v is negative", d.v)
		}
	}
	p.Nest("retry", c.Retry.Validate())
	p.Nest("breaker", c.Breaker.Validate())
	if c.Baud < 0 {
		p.Add("baud", "%d is negative", c.Baud)
	}
	if c.DataBits != 0 && (c.DataBits < 5 || c.DataBits > 8) {
		p.Add("data_bits", "%d not in 5..8", c.DataBits)
	}
	switch strings.ToUpper(c.Parity) {
	case "", "N", "E", "O":
	default:
		p.Add("parity", "%q is not N, E or O", c.Parity)
	}
	if c.StopBits != 0 && c.StopBits != 1 && c.StopBits != 2 {
		p.Add("stop_bits", "%d is not 1 or 2", c.StopBits)
	}
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeTCP
	}
	if c.Unit == 0 {
		c.Unit = 1
	}
	if c.MaxRegisters == 0 {
		c.MaxRegisters = wire.MaxReadRegisters
	}
	if c.MaxCoils == 0 {
		c.MaxCoils = wire.MaxReadBits
	}
	if c.InFlight == 0 {
		c.InFlight = 1
	}
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.DataBits == 0 {
		c.DataBits = 8
	}
	if c.Parity == "" {
		c.Parity = "E"
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	return c
}

// addressDefaults are the address settings of a Config with defaults.
func (c Config) addressDefaults() AddressDefaults {
	o, _ := ParseOrder(c.ByteOrder)
	if c.ByteOrder == "" {
		o = ABCD
	}
	return AddressDefaults{Unit: uint8(c.Unit), Order: o, ZeroBased: c.ZeroBased}
}

func (c Config) limits() limits {
	l := limits{maxRegs: c.MaxRegisters, maxBits: c.MaxCoils, gap: c.Gap}
	switch c.Gap {
	case 0:
		l.gap = 1 << 20
	case NoGap:
		l.gap = 0
	}
	return l
}

// ConfigFromDevice builds the Config of a point database device:
// Endpoint from dev.Endpoint, the other fields from dev.Options by their
// yaml names (config.DecodeOptions: retry.max, breaker.open_for; gap may
// also be "auto" or "none"), and validates it. Every problem is a
// *config.FieldError at a path relative to the device (endpoint,
// options.unit), joined, unknown options in sorted order.
func ConfigFromDevice(dev plc.Device) (Config, error) {
	cfg := Config{Endpoint: dev.Endpoint}
	opts := dev.Options
	if g, ok := opts["gap"]; ok {
		switch strings.ToLower(strings.TrimSpace(g)) {
		case "auto":
			opts = maps.Clone(opts)
			delete(opts, "gap")
		case "none":
			opts = maps.Clone(opts)
			opts["gap"] = strconv.Itoa(NoGap)
		}
	}
	err := plc.DecodeOptions(opts, &cfg, func() error {
		cfg.Mode = strings.ToLower(cfg.Mode)
		return cfg.Validate()
	})
	return cfg, err
}

// hostPort adds the default port 502 to an endpoint without one.
func hostPort(endpoint string) string {
	if _, _, err := net.SplitHostPort(endpoint); err == nil {
		return endpoint
	}
	return net.JoinHostPort(strings.Trim(endpoint, "[]"), strconv.Itoa(DefaultPort))
}
