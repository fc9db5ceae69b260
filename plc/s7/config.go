package s7

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/backoff"
)

// DefaultPort is the ISO-on-TCP port of S7 CPUs.
const DefaultPort = 102

// Config holds the settings of one S7 connection. The zero Config means
// the documented defaults. In a point database the same settings are the
// device's options (plc.Device.Options), by the yaml names below, with
// durations as Go durations ("5s") and TSAPs as hex ("0x0102") or
// Siemens notation ("01.02").
type Config struct {
	// Rack and Slot of the CPU (defaults 0 and 1; slot 0 means 1, which
	// S7-1200/1500 CPUs accept as well as 0; S7-300 CPUs sit in slot 2).
	Rack int `yaml:"rack"`
	Slot int `yaml:"slot"`
	// ConnectionType is "pg" (default), "op" or "basic".
	ConnectionType string `yaml:"connection_type"`
	// RemoteTSAP, when not zero, is the CPU's TSAP and overrides Rack,
	// Slot and ConnectionType.
	RemoteTSAP uint16 `yaml:"remote_tsap"`
	// LocalTSAP is the TSAP the driver connects from (default 0x0100,
	// which S7 CPUs accept for PG/OP connections; a configured connection
	// may ask for another).
	LocalTSAP uint16 `yaml:"local_tsap"`
	// PDUSize is the PDU size proposed to the CPU (default 960); the CPU
	// answers with the size it grants, at most its own limit (240 on most
	// S7-300, 480 on S7-400 and S7-1200, 960 on S7-1500), and every
	// request and answer is planned to fit that.
	PDUSize int `yaml:"pdu_size"`
	// MaxItems is the most items per request (default 20, what S7-300/400
	// CPUs accept).
	MaxItems int `yaml:"max_items"`
	// Gap is the most unused bytes between two tags that are still read
	// as one range; 0 (the default) chooses per scan group the gap that
	// gives the fewest round trips.
	Gap int `yaml:"gap"`
	// Connections is how many connections to open to the PLC (default 1);
	// requests of one read are spread over them.
	Connections int `yaml:"connections"`
	// Timeout bounds each request (default 5s); ConnectTimeout each
	// connection attempt (default 5s).
	Timeout        time.Duration `yaml:"timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Reconnect shapes the delays between connection attempts (defaults
	// 100ms growing to 30s, with jitter): after a failed attempt, and
	// after a connection lost within 30s of being made. A connection that
	// lasted 30s is rebuilt at once and the delays start afresh.
	Reconnect backoff.Config `yaml:"reconnect"`
	// BreakerFailures is how many consecutive failed requests or
	// connection attempts open the circuit breaker (default 5);
	// BreakerTimeout how long it stays open before one probe (default
	// 10s).
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerTimeout  time.Duration `yaml:"breaker_timeout"`
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("s7: config %s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Rack < 0 || c.Rack > 7:
		return bad("rack", "%d not in 0..7", c.Rack)
	case c.Slot < 0 || c.Slot > 31:
		return bad("slot", "%d not in 0..31", c.Slot)
	case c.PDUSize != 0 && (c.PDUSize < minPDU || c.PDUSize > maxPDU):
		return bad("pdu_size", "%d not in %d..%d", c.PDUSize, minPDU, maxPDU)
	case c.MaxItems < 0 || c.MaxItems > 255:
		return bad("max_items", "%d not in 1..255", c.MaxItems)
	case c.Gap < 0:
		return bad("gap", "%d is negative", c.Gap)
	case c.Connections < 0 || c.Connections > 16:
		return bad("connections", "%d not in 1..16", c.Connections)
	case c.Timeout < 0:
		return bad("timeout", "%v is negative", c.Timeout)
	case c.ConnectTimeout < 0:
		return bad("connect_timeout", "%v is negative", c.ConnectTimeout)
	case c.BreakerFailures < 0:
		return bad("breaker_failures", "%d is negative", c.BreakerFailures)
	case c.BreakerTimeout < 0:
		return bad("breaker_timeout", "%v is negative", c.BreakerTimeout)
	}
	if _, err := connType(c.ConnectionType); err != nil {
		return err
	}
	return nil
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
	return 0, fmt.Errorf("s7: config connection_type: %q is not pg, op or basic", s)
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
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerTimeout == 0 {
		c.BreakerTimeout = 10 * time.Second
	}
	return c
}

// remoteTSAP returns RemoteTSAP, or the TSAP built from connection type,
// rack and slot (type<<8 | rack<<5 | slot).
func (c Config) remoteTSAP() uint16 {
	if c.RemoteTSAP != 0 {
		return c.RemoteTSAP
	}
	ct, _ := connType(c.ConnectionType)
	return uint16(ct<<8 | c.Rack<<5 | c.Slot)
}

// optionKeys are the keys ConfigFromOptions knows.
var optionKeys = []string{
	"rack", "slot", "connection_type", "remote_tsap", "local_tsap", "pdu_size", "max_items", "gap",
	"connections", "timeout", "connect_timeout", "reconnect_initial", "reconnect_max",
	"breaker_failures", "breaker_timeout",
}

// ConfigFromOptions builds a Config from a device's options (the keys are
// Config's yaml names; reconnect_initial and reconnect_max set Reconnect)
// and validates it. An unknown key is an error, so a typo is not silently
// ignored.
func ConfigFromOptions(opts map[string]string) (Config, error) {
	var c Config
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(opts[k])
		var err error
		num := func(p *int) { *p, err = strconv.Atoi(v) }
		dur := func(p *time.Duration) { *p, err = time.ParseDuration(v) }
		tsap := func(p *uint16) { *p, err = parseTSAP(v) }
		switch k {
		case "rack":
			num(&c.Rack)
		case "slot":
			num(&c.Slot)
		case "connection_type":
			c.ConnectionType = v
		case "remote_tsap":
			tsap(&c.RemoteTSAP)
		case "local_tsap":
			tsap(&c.LocalTSAP)
		case "pdu_size":
			num(&c.PDUSize)
		case "max_items":
			num(&c.MaxItems)
		case "gap":
			if strings.EqualFold(v, "auto") {
				c.Gap = 0
			} else {
				num(&c.Gap)
			}
		case "connections":
			num(&c.Connections)
		case "timeout":
			dur(&c.Timeout)
		case "connect_timeout":
			dur(&c.ConnectTimeout)
		case "reconnect_initial":
			dur(&c.Reconnect.Initial)
		case "reconnect_max":
			dur(&c.Reconnect.Max)
		case "breaker_failures":
			num(&c.BreakerFailures)
		case "breaker_timeout":
			dur(&c.BreakerTimeout)
		default:
			return Config{}, fmt.Errorf("s7: unknown option %q (known: %s)", k, strings.Join(optionKeys, ", "))
		}
		if err != nil {
			return Config{}, fmt.Errorf("s7: option %s=%q: %w", k, opts[k], err)
		}
	}
	return c, c.Validate()
}

// parseTSAP reads "0x0102", "0102" (hex), "01.02" or "1.2".
func parseTSAP(s string) (uint16, error) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 16, 8)
		l, err2 := strconv.ParseUint(lo, 16, 8)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("TSAP %q: want HH.LL in hex", s)
		}
		return uint16(h<<8 | l), nil
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 16)
	if err != nil {
		return 0, fmt.Errorf("TSAP %q: want hex such as 0x0102 or 01.02", s)
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
