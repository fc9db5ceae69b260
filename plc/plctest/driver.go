package plctest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// DriverName is the name Register registers the driver under, for
// Device.Driver in a point database.
const DriverName = "plctest"

var registerOnce sync.Once

// Register makes the driver available to plc.Open and point-database
// validation as "plctest". It may be called any number of times, from
// any goroutine. plc.Open of a device gives Shared(device name), so a test
// reaches the driver a point database opened.
func Register() {
	registerOnce.Do(func() {
		if _, ok := plc.Lookup(DriverName); ok {
			return
		}
		plc.Register(plc.Registration{
			Name:         DriverName,
			CheckAddress: CheckAddress,
			Open: func(dev plc.Device, _ plc.OpenOptions) (plc.Driver, error) {
				if dev.Name == "" {
					return nil, errors.New("plctest: device has no name")
				}
				return Shared(dev.Name), nil
			},
		})
	})
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Driver{}
)

// Shared returns the process-wide driver of a device name, making it on
// first use (and again after it was closed).
func Shared(device string) *Driver {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	d := shared[device]
	if d == nil || d.isClosed() {
		d = New()
		shared[device] = d
	}
	return d
}

// MaxAddressLen is the longest address the driver accepts.
const MaxAddressLen = 128

// CheckAddress accepts any address of 1 to MaxAddressLen printable
// characters without spaces; the in-memory device has no address syntax
// of its own. A type must be valid.
func CheckAddress(address string, t plc.DataType) error {
	switch {
	case address == "":
		return errors.New("plctest: empty address")
	case len(address) > MaxAddressLen:
		return fmt.Errorf("plctest: address longer than %d bytes", MaxAddressLen)
	case strings.ContainsFunc(address, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("plctest: address %q contains spaces or control characters", address)
	case !t.Valid():
		return fmt.Errorf("plctest: invalid type %v", t)
	}
	return nil
}

// Driver is an in-memory plc.Driver: a device whose memory is a map from
// address to value. Tests set values, inject per-address qualities and
// write errors or a whole-device failure, and count reads. It is safe for
// concurrent use; reading a prepared set of tags does not allocate.
type Driver struct {
	now func() time.Time

	mu       sync.Mutex
	mem      map[string]*cell
	fail     error
	closed   bool
	writes   []plc.WriteItem
	readHook func(ctx context.Context) error

	reads atomic.Int64
}

// cell is one address of the device's memory.
type cell struct {
	v        plc.Value   // invalid until set: reads as the zero of the tag's type
	q        plc.Quality // forced quality when forced is set
	forced   bool
	writeErr error
}

// Option configures a Driver.
type Option func(*Driver)

// WithNow sets the function that stamps samples' Time (default time.Now),
// for tests on a fake clock.
func WithNow(now func() time.Time) Option { return func(d *Driver) { d.now = now } }

// New returns an empty device.
func New(opts ...Option) *Driver {
	d := &Driver{now: time.Now, mem: map[string]*cell{}}
	for _, o := range opts {
		o(d)
	}
	return d
}

// cellLocked returns the cell of an address, making it; d.mu is held.
func (d *Driver) cellLocked(address string) *cell {
	c := d.mem[address]
	if c == nil {
		c = &cell{}
		d.mem[address] = c
	}
	return c
}

// Set stores a raw value at an address. Reads convert it to each tag's
// type (plc.Convert); a value that does not fit reads as Bad with
// ReasonConfigError.
func (d *Driver) Set(address string, v plc.Value) {
	d.mu.Lock()
	d.cellLocked(address).v = v
	d.mu.Unlock()
}

// Get returns the value stored at an address.
func (d *Driver) Get(address string) (plc.Value, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.mem[address]
	if c == nil || !c.v.IsValid() {
		return plc.Value{}, false
	}
	return c.v, true
}

// SetQuality makes reads of an address return q (with no value unless q
// is good), as a device does for one bad item; plc.Good clears it.
func (d *Driver) SetQuality(address string, q plc.Quality) {
	d.mu.Lock()
	c := d.cellLocked(address)
	c.q, c.forced = q, !q.IsGood()
	d.mu.Unlock()
}

// SetWriteError makes writes to an address fail with err; nil clears it.
func (d *Driver) SetWriteError(address string, err error) {
	d.mu.Lock()
	d.cellLocked(address).writeErr = err
	d.mu.Unlock()
}

// Fail makes the whole device unreachable: reads give Bad samples with
// ReasonCommFailure and writes fail with err wrapped with
// plc.ErrNotConnected. Fail(nil) heals it.
func (d *Driver) Fail(err error) {
	d.mu.Lock()
	d.fail = err
	d.mu.Unlock()
}

// SetReadHook installs fn, called at the start of every Read before the
// memory is read. A test blocks in it to hold a scan (to make a poller
// overrun), or returns an error to fail the Read as a whole. nil removes
// it.
func (d *Driver) SetReadHook(fn func(ctx context.Context) error) {
	d.mu.Lock()
	d.readHook = fn
	d.mu.Unlock()
}

// Reads returns how many times Read has been called on any reader.
func (d *Driver) Reads() int64 { return d.reads.Load() }

// Writes returns the items written successfully so far, in order.
func (d *Driver) Writes() []plc.WriteItem {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]plc.WriteItem(nil), d.writes...)
}

func (d *Driver) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Prepare implements plc.Driver.
func (d *Driver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, plc.ErrClosed
	}
	r := &reader{d: d, tags: append([]plc.Tag(nil), tags...), cells: make([]*cell, len(tags)), errs: make([]error, len(tags))}
	for i, t := range tags {
		if err := CheckAddress(t.Address, t.Type); err != nil {
			r.errs[i] = err
			continue
		}
		r.cells[i] = d.cellLocked(t.Address)
	}
	return r, nil
}

type reader struct {
	d     *Driver
	tags  []plc.Tag
	cells []*cell // nil for a rejected address
	errs  []error
}

var (
	qualityClosed   = plc.Bad(plc.ReasonCommFailure, "driver closed")
	qualityCanceled = plc.Bad(plc.ReasonCommFailure, "read canceled")
	qualityBadAddr  = plc.Bad(plc.ReasonConfigError, "address rejected")
	qualityMismatch = plc.Bad(plc.ReasonConfigError, "stored value does not fit the tag's type")
	qualityDown     = plc.Bad(plc.ReasonCommFailure, "device unreachable")
)

// Read implements plc.Reader.
func (r *reader) Read(ctx context.Context, out []plc.Sample) error {
	d := r.d
	d.reads.Add(1)
	d.mu.Lock()
	hook := d.readHook
	d.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			r.fillBad(out, qualityCanceled)
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		r.fillBad(out, qualityCanceled)
		return err
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		r.fillBad(out, qualityClosed)
		return plc.ErrClosed
	}
	n := min(len(out), len(r.tags))
	for i := range n {
		t := &r.tags[i]
		s := &out[i]
		s.Tag, s.Time, s.Value = t.Name, now, plc.Value{}
		c := r.cells[i]
		switch {
		case d.fail != nil:
			s.Quality = qualityDown
		case c == nil:
			s.Quality = qualityBadAddr
		case c.forced:
			s.Quality = c.q
		case !c.v.IsValid():
			s.Value, s.Quality = zeroOf(t.Type), plc.Good
		case c.v.Kind() == t.Type.Kind && t.Type.Kind != plc.String:
			s.Value, s.Quality = c.v, plc.Good
		default:
			v, err := plc.Convert(c.v, t.Type)
			if err != nil {
				s.Quality = qualityMismatch
			} else {
				s.Value, s.Quality = v, plc.Good
			}
		}
	}
	return nil
}

func (r *reader) fillBad(out []plc.Sample, q plc.Quality) {
	now := r.d.now()
	for i := range min(len(out), len(r.tags)) {
		out[i] = plc.Sample{Tag: r.tags[i].Name, Quality: q, Time: now}
	}
}

// zeroOf returns the zero value of a type, what unset memory reads as.
func zeroOf(t plc.DataType) plc.Value {
	switch k := t.Kind; {
	case k == plc.Bool:
		return plc.BoolValue(false)
	case k.IsSigned():
		return plc.IntValue(k, 0)
	case k.IsUnsigned():
		return plc.UintValue(k, 0)
	case k.IsFloat():
		return plc.FloatValue(k, 0)
	case k == plc.DateTime:
		return plc.TimeValue(time.Unix(0, 0))
	case k == plc.ByteString:
		return plc.BytesValue(nil)
	}
	return plc.StringValue("")
}

// Write implements plc.Driver. Each value must be of its tag's type, as
// drivers receive raw values; the written value is stored at the tag's
// address.
func (d *Driver) Write(ctx context.Context, items []plc.WriteItem) []error {
	errs := make([]error, len(items))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, it := range items {
		if err := CheckAddress(it.Tag.Address, it.Tag.Type); err != nil {
			errs[i] = err
			continue
		}
		c := d.cellLocked(it.Tag.Address)
		switch {
		case d.closed:
			errs[i] = plc.ErrClosed
		case d.fail != nil:
			errs[i] = fmt.Errorf("%w: %w", plc.ErrNotConnected, d.fail)
		case c.writeErr != nil:
			errs[i] = c.writeErr
		case it.Value.Kind() != it.Tag.Type.Kind:
			errs[i] = fmt.Errorf("plctest: %v value for %v tag %q", it.Value.Kind(), it.Tag.Type, it.Tag.Name)
		case it.Tag.Type.Kind == plc.String && len(it.Value.Str()) > it.Tag.Type.Len:
			errs[i] = fmt.Errorf("plctest: string longer than %v for tag %q", it.Tag.Type, it.Tag.Name)
		default:
			c.v = it.Value
			d.writes = append(d.writes, it)
		}
	}
	return errs
}

// Close implements plc.Driver: later reads give Bad samples and
// plc.ErrClosed. It is idempotent.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}
