package plc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Driver talks to one device. Drivers deal in raw values of each tag's
// declared Type; scaling to engineering units happens above them (Poller,
// Writer). A Driver is safe for concurrent use.
type Driver interface {
	// Prepare parses the tags' addresses and plans how to read them, once,
	// for repeated reads. A tag whose address the driver rejects does not
	// fail Prepare: it reads as Bad with ReasonConfigError every time, so
	// one bad address never spoils the others. Prepare fails only when the
	// driver cannot read at all (it is closed).
	Prepare(tags []Tag) (Reader, error)
	// Write writes raw values, each of its tag's Type, and returns one
	// error per item (nil for success), in order. Items the driver can
	// combine it sends together.
	Write(ctx context.Context, items []WriteItem) []error
	// Close disconnects. It is idempotent; calls after it fail with
	// ErrClosed.
	Close() error
}

// ConnectionReporter is implemented by drivers that can say why their
// device is unreachable: what a Bad sample's ReasonCommFailure does not
// tell (connection refused, rack and slot refused by the PLC, an
// untrusted certificate), for status pages and health checks.
type ConnectionReporter interface {
	// ConnectionError returns the cause of the last failed connection
	// attempt while the device is not connected, nil once it is.
	ConnectionError() error
}

// Reader reads a prepared set of tags.
type Reader interface {
	// Read reads every prepared tag once and fills out, which has one
	// entry per tag in the order given to Prepare: Tag, Value, Quality and
	// Time. Per-tag failures are in each sample's Quality; while the device
	// is unreachable every sample is Bad with ReasonCommFailure, promptly.
	// The error is non-nil only when the whole call could not run (ctx
	// done, driver closed); out is then filled with Bad samples all the
	// same.
	Read(ctx context.Context, out []Sample) error
}

// WriteItem is one raw value to write to one tag.
type WriteItem struct {
	Tag   Tag
	Value Value
}

// Errors shared by drivers.
var (
	// ErrClosed is returned by a driver or reader used after Close.
	ErrClosed = errors.New("plc: driver closed")
	// ErrNotConnected is returned when the device cannot be reached now.
	ErrNotConnected = errors.New("plc: device not connected")
	// ErrUnknownDriver is returned by Open for an unregistered driver name.
	ErrUnknownDriver = errors.New("plc: unknown driver")
)

// Device describes one device of a point database.
type Device struct {
	// Name is unique within the point database.
	Name string `yaml:"name"`
	// Driver is the registered driver name: "s7", "opcua", "modbus".
	Driver string `yaml:"driver"`
	// Endpoint is where the device listens: "10.0.0.5:102",
	// "opc.tcp://wincc:4840".
	Endpoint string `yaml:"endpoint"`
	// Options are driver-specific settings ("rack", "slot",
	// "security_mode", …); each driver documents its own.
	Options map[string]string `yaml:"options"`
}

// OpenOptions are the code-only settings a driver is opened with.
type OpenOptions struct {
	// Logger receives the driver's logs; nil means no logging.
	Logger *zap.Logger
	// Registerer, when not nil, gets the driver's Prometheus collectors,
	// labelled with the device name.
	Registerer prometheus.Registerer
}

// Registration makes a driver available by name.
type Registration struct {
	// Name is what Device.Driver says: "s7".
	Name string
	// CheckAddress validates an address for a tag of type t without a
	// connection, so a point database can be checked when it is loaded.
	CheckAddress func(address string, t DataType) error
	// CheckDevice, when set, validates a device's endpoint and options
	// without a connection, so a configuration can be checked when it is
	// loaded. Its problems are *config.FieldError values at paths
	// relative to the device (endpoint, options.rack), joined.
	CheckDevice func(dev Device) error
	// Open returns a driver for dev. It validates dev and returns without
	// waiting for the device: the driver connects in the background or on
	// first use and reconnects on its own.
	Open func(dev Device, opts OpenOptions) (Driver, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Registration{}
)

// Register makes a driver available under r.Name. Drivers call it from an
// init function; registering a name twice panics, as that is a programming
// error, not an input error.
func Register(r Registration) {
	if r.Name == "" || r.Open == nil || r.CheckAddress == nil {
		panic("plc: Register needs Name, CheckAddress and Open")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[r.Name]; dup {
		panic("plc: driver " + r.Name + " registered twice")
	}
	registry[r.Name] = r
}

// Lookup returns the registration of a driver name.
func Lookup(name string) (Registration, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	return r, ok
}

// Drivers returns the registered driver names, sorted.
func Drivers() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CheckDevice validates dev's endpoint and options with its driver's
// Registration.CheckDevice, without a connection: nil for a driver that
// has none, and ErrUnknownDriver for an unregistered driver. Problems are
// *config.FieldError values at paths relative to the device.
func CheckDevice(dev Device) error {
	r, ok := Lookup(dev.Driver)
	if !ok {
		return fmt.Errorf("%w %q (registered: %v)", ErrUnknownDriver, dev.Driver, Drivers())
	}
	if r.CheckDevice == nil {
		return nil
	}
	return r.CheckDevice(dev)
}

// Open opens a driver for dev by its registered driver name.
func Open(dev Device, opts OpenOptions) (Driver, error) {
	r, ok := Lookup(dev.Driver)
	if !ok {
		return nil, fmt.Errorf("%w %q for device %q (registered: %v)", ErrUnknownDriver, dev.Driver, dev.Name, Drivers())
	}
	return r.Open(dev, opts)
}
