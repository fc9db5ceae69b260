package s7

import (
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
)

// DefaultPort is the ISO-on-TCP port of S7 CPUs.
const DefaultPort = 102

// Config holds the settings of one S7 connection. The zero value of every
// field but Endpoint means the documented default. In a point database
// the endpoint is the device's and the other settings are the device's
// options (plc.Device.Options), by the yaml names below (nested ones
// dotted: retry.multiplier, breaker.open_for), with durations as Go
// durations ("5s") and TSAPs as hex ("0x0102") or Siemens notation
// ("01.02"); see ConfigFromDevice.
type Config struct {
	// Endpoint is the PLC's address, host or host:port (port 102 by
	// default). Required.
	Endpoint string `yaml:"endpoint"`
	// Rack and Slot of the CPU (defaults 0 and 1; slot 0 means 1, which
	// S7-1200/1500 CPUs accept as well as 0; S7-300 CPUs sit in slot 2).
	Rack int `yaml:"rack"`
	Slot int `yaml:"slot"`
	// ConnectionType is "pg" (default), "op" or "basic".
	ConnectionType string `yaml:"connection_type"`
	// RemoteTSAP, when not zero, is the CPU's TSAP and overrides Rack,
	// Slot and ConnectionType.
	RemoteTSAP TSAP `yaml:"remote_tsap"`
	// LocalTSAP is the TSAP the driver connects from (default 0x0100,
	// which S7 CPUs accept for PG/OP connections; a configured connection
	// may ask for another).
	LocalTSAP TSAP `yaml:"local_tsap"`
	// PDUSize is the PDU size proposed to the CPU (default 960); the CPU
	// answers with the size it grants, at most its own limit (240 on most
	// S7-300, 480 on S7-400 and S7-1200, 960 on S7-1500), and every
	// request and answer is planned to fit that.
	PDUSize int `yaml:"pdu_size"`
	// MaxItems is the most items per request (default 20, what S7-300/400
	// CPUs accept).
	MaxItems int `yaml:"max_items"`
	// Gap is the most unused bytes between two tags that are still read
	// as one range; 0 (the default, also written "auto" in options)
	// chooses per scan group the gap that gives the fewest round trips.
	Gap int `yaml:"gap"`
	// Connections is how many connections to open to the PLC (default 1);
	// requests of one read are spread over them.
	Connections int `yaml:"connections"`
	// Timeout bounds each request (default 5s); ConnectTimeout each
	// connection attempt (default 5s).
	Timeout        time.Duration `yaml:"timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Retry shapes the delays between connection attempts (defaults
	// 100ms growing to 30s, with jitter): after a failed attempt, and
	// after a connection lost within 30s of being made. A connection that
	// lasted 30s is rebuilt at once and the delays start afresh.
	Retry backoff.Config `yaml:"retry"`
	// Breaker is the circuit breaker in front of the PLC: Failures
	// consecutive failed requests or connection attempts open it (default
	// 5), and it stays open for OpenFor before one probe (default 10s).
	Breaker breaker.Config `yaml:"breaker"`
}

// TSAP is a transport service access point, written in YAML and options
// as hex ("0x0102", "0102") or in Siemens notation ("01.02").
type TSAP uint16

// UnmarshalText reads a TSAP in either notation.
func (t *TSAP) UnmarshalText(b []byte) error {
	v, err := parseTSAP(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*t = TSAP(v)
	return nil
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path (rack, retry.multiplier, breaker.failures).
func (c Config) Validate() error {
	var p config.Problems
	if _, err := hostPort(c.Endpoint); err != nil {
		p.Add("endpoint", "is required (host or host:port)")
	}
	if c.Rack < 0 || c.Rack > 7 {
		p.Add("rack", "%d is not in 0..7", c.Rack)
	}
	if c.Slot < 0 || c.Slot > 31 {
		p.Add("slot", "%d is not in 0..31", c.Slot)
	}
	if _, err := connType(c.ConnectionType); err != nil {
		p.Add("connection_type", "%q is not pg, op or basic", c.ConnectionType)
	}
	if c.PDUSize != 0 && (c.PDUSize < minPDU || c.PDUSize > maxPDU) {
		p.Add("pdu_size", "%d is not in %d..%d", c.PDUSize, minPDU, maxPDU)
	}
	if c.MaxItems < 0 || c.MaxItems > 255 {
		p.Add("max_items", "%d is not in 1..255", c.MaxItems)
	}
	if c.Gap < 0 {
		p.Add("gap", "%d is negative", c.Gap)
	}
	if c.Connections < 0 || c.Connections > 16 {
		p.Add("connections", "%d is not in 1..16", c.Connections)
	}
	if c.Timeout < 0 {
		p.Add("timeout", "%v is negative", c.Timeout)
	}
	if c.ConnectTimeout < 0 {
		p.Add("connect_timeout", "%v is negative", c.ConnectTimeout)
	}
	p.Nest("retry", c.Retry.Validate())
	p.Nest("breaker", c.Breaker.Validate())
	return p.Err()
}

// connType maps the connection type name to its TSAP high byte.
func connType(s string) (int, error) {
	switch strings.ToLower(s) {
	case "", "pg":
		return 1, nil
	case "op":
		return 2, nil
	case "basic":
		return 3, nil
	}
	return 0, fmt.Errorf("s7: connection type %q is not pg, op or basic", s)
}

func (c Config) withDefaults() Config {
	if c.Slot == 0 {
		c.Slot = 1
	}
	if c.LocalTSAP == 0 {
		c.LocalTSAP = 0x0100
	}
	if c.PDUSize == 0 {
		c.PDUSize = 960
	}
	if c.MaxItems == 0 {
		c.MaxItems = 20
	}
	if c.Connections == 0 {
		c.Connections = 1
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return c
}

// remoteTSAP returns RemoteTSAP, or the TSAP built from connection type,
// rack and slot (type<<8 | rack<<5 | slot).
func (c Config) remoteTSAP() uint16 {
	if c.RemoteTSAP != 0 {
		return uint16(c.RemoteTSAP)
	}
	ct, _ := connType(c.ConnectionType)
	return uint16(ct<<8 | c.Rack<<5 | c.Slot)
}

// ConfigFromDevice builds the Config of a point database device:
// Endpoint from dev.Endpoint, the other fields from dev.Options by their
// yaml names (config.DecodeOptions: retry.multiplier, breaker.open_for;
// gap may also be "auto"), and validates it. Every problem is a
// *config.FieldError at a path relative to the device (endpoint,
// options.rack), joined, so a caller nests them under the device's own
// path; an unknown option is refused, so a typo is not silently ignored.
func ConfigFromDevice(dev plc.Device) (Config, error) {
	cfg := Config{Endpoint: dev.Endpoint}
	opts := dev.Options
	if g, ok := opts["gap"]; ok && strings.EqualFold(strings.TrimSpace(g), "auto") {
		opts = maps.Clone(opts)
		delete(opts, "gap")
	}
	err := plc.DecodeOptions(opts, &cfg, func() error { return cfg.Validate() })
	return cfg, err
}

// parseTSAP reads "0x0102", "0102" (hex), "01.02" or "1.2".
func parseTSAP(s string) (uint16, error) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 16, 8)
		l, err2 := strconv.ParseUint(lo, 16, 8)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("%q is not a TSAP such as 01.02 (HH.LL in hex)", s)
		}
		return uint16(h<<8 | l), nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a TSAP such as 0x0102 or 01.02", s)
	}
	return uint16(v), nil
}

// hostPort adds the default port 102 to an endpoint without one.
func hostPort(endpoint string) (string, error) {
	if endpoint == "" {
		return "", fmt.Errorf("s7: empty endpoint")
	}
	if _, _, err := net.SplitHostPort(endpoint); err == nil {
		return endpoint, nil
	}
	return net.JoinHostPort(strings.Trim(endpoint, "[]"), strconv.Itoa(DefaultPort)), nil
}
