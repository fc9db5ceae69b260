package opcua

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/plc"
)

func init() {
	plc.Register(plc.Registration{Name: "opcua", CheckAddress: CheckAddress, CheckDevice: checkDevice, Open: open})
}

// ConfigFromDevice builds the Config of a point database device:
// Endpoint from dev.Endpoint, the other fields from dev.Options by their
// yaml names (config.DecodeOptions: security_mode, request_timeout as a
// Go duration "5s", retry.multiplier), and validates it. Every problem is
// a *config.FieldError at a path relative to the device (endpoint,
// options.security_mode), joined, in a fixed order (unknown options
// sorted).
func ConfigFromDevice(dev plc.Device) (Config, error) {
	cfg := Config{Endpoint: dev.Endpoint}
	err := plc.DecodeOptions(dev.Options, &cfg, func() error { return cfg.Validate() })
	return cfg, err
}

func checkDevice(dev plc.Device) error {
	_, err := ConfigFromDevice(dev)
	return err
}

func open(dev plc.Device, o plc.OpenOptions) (plc.Driver, error) {
	cfg, err := ConfigFromDevice(dev)
	if err != nil {
		return nil, err
	}
	var opts []Option
	if o.Logger != nil {
		opts = append(opts, WithLogger(o.Logger.With(zap.String("device", dev.Name))))
	}
	if o.Registerer != nil {
		opts = append(opts, WithRegisterer(prometheus.WrapRegistererWith(prometheus.Labels{"device": dev.Name}, o.Registerer)))
	}
	c, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return NewDriver(c), nil
}

// Driver adapts a Client to plc.Driver, so the poller, the gateway and
// tagctl treat OPC UA nodes as tags, and adds the push path: Subscribe.
type Driver struct {
	c *Client
}

// NewDriver returns a driver over c; closing the driver closes c.
func NewDriver(c *Client) *Driver { return &Driver{c: c} }

// Client returns the driver's client, for browsing and other OPC UA
// specific calls.
func (d *Driver) Client() *Client { return d.c }

// Close closes the client.
func (d *Driver) Close() error { return d.c.Close() }

// ConnectionError implements plc.ConnectionReporter (see
// Client.ConnectionError).
func (d *Driver) ConnectionError() error { return d.c.ConnectionError() }

// Prepare parses the tags' addresses for repeated reads. A tag with a bad
// address reads Bad/config error.
func (d *Driver) Prepare(tags []plc.Tag) (plc.Reader, error) {
	if _, err := d.c.current(); errors.Is(err, ErrClosed) {
		return nil, ErrClosed
	}
	r := &reader{c: d.c, tags: append([]plc.Tag(nil), tags...), addrs: make([]Address, len(tags)), bad: make([]bool, len(tags))}
	for i, t := range tags {
		a, err := ParseAddress(t.Address)
		if err != nil || DataTypeID(t.Type.Kind) == 0 {
			r.bad[i] = true
			continue
		}
		r.addrs[i] = a
	}
	return r, nil
}

type reader struct {
	c     *Client
	tags  []plc.Tag
	addrs []Address
	bad   []bool
	// ids are the resolved node ids for the connection cn.
	cn    *conn
	ids   []*ua.NodeID
	codes []ua.StatusCode
}

var configBad = plc.Bad(plc.ReasonConfigError, "bad address or type")

func (r *reader) fill(out []plc.Sample, q plc.Quality, now time.Time) {
	for i := range out {
		out[i] = plc.Sample{Tag: r.tags[i].Name, Quality: q, Time: now}
		if r.bad[i] {
			out[i].Quality = configBad
		}
	}
}

// Read reads every prepared tag once. Read is not safe for concurrent use
// of one reader.
func (r *reader) Read(ctx context.Context, out []plc.Sample) error {
	if len(out) != len(r.tags) {
		return fmt.Errorf("opcua: read: %d samples for %d tags", len(out), len(r.tags))
	}
	cn, err := r.c.ready(ctx)
	now := time.Now()
	if err != nil {
		r.fill(out, commFailure, now)
		if errors.Is(err, ErrClosed) {
			return err
		}
		return ctx.Err()
	}
	if r.cn != cn {
		ids, codes, err := r.c.resolve(ctx, r.addrs)
		if err != nil {
			r.fill(out, commFailure, now)
			return ctx.Err()
		}
		r.cn, r.ids, r.codes = cn, ids, codes
	}
	var idx []int
	var nodes []*ua.NodeID
	for i := range r.tags {
		out[i] = plc.Sample{Tag: r.tags[i].Name, Time: now}
		switch {
		case r.bad[i]:
			out[i].Quality = configBad
		case r.codes[i] != ua.StatusOK:
			out[i].Quality = Quality(r.codes[i])
		default:
			idx = append(idx, i)
			nodes = append(nodes, r.ids[i])
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	dvs, err := r.c.Read(ctx, nodes)
	if err != nil {
		for _, i := range idx {
			out[i].Quality = commFailure
		}
		return ctx.Err()
	}
	for k, i := range idx {
		out[i] = sample(r.tags[i], dvs[k], now)
	}
	return nil
}

// Write writes raw values, each converted to its tag's type, and returns
// one error per item: nil, ErrNotConnected, a conversion or address
// error, or the server's status code (errors.Is(err,
// ua.StatusBadNotWritable)).
func (d *Driver) Write(ctx context.Context, items []plc.WriteItem) []error {
	errs := make([]error, len(items))
	addrs := make([]Address, len(items))
	vals := make([]plc.Value, len(items))
	var ok []int
	for i, it := range items {
		a, err := ParseAddress(it.Tag.Address)
		if err != nil {
			errs[i] = err
			continue
		}
		v, err := plc.Convert(it.Value, it.Tag.Type)
		if err != nil {
			errs[i] = fmt.Errorf("opcua: write %s: %w", it.Tag.Name, err)
			continue
		}
		addrs[i], vals[i] = a, v
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return errs
	}
	sub := make([]Address, len(ok))
	for k, i := range ok {
		sub[k] = addrs[i]
	}
	ids, codes, err := d.c.resolve(ctx, sub)
	if err != nil {
		for _, i := range ok {
			errs[i] = err
		}
		return errs
	}
	var wv []WriteValue
	var at []int
	for k, i := range ok {
		if codes[k] != ua.StatusOK {
			errs[i] = fmt.Errorf("opcua: write %s: resolve %s: %w", items[i].Tag.Name, addrs[i], codes[k])
			continue
		}
		wv = append(wv, WriteValue{NodeID: ids[k], Value: vals[i]})
		at = append(at, i)
	}
	if len(wv) == 0 {
		return errs
	}
	res, err := d.c.Write(ctx, wv)
	for k, i := range at {
		switch {
		case k >= len(res):
			// Not written: the request carrying it failed as a whole.
			errs[i] = err
		case res[k] != ua.StatusOK:
			errs[i] = fmt.Errorf("opcua: write %s: %w", items[i].Tag.Name, res[k])
		}
	}
	return errs
}

// Subscribe is the push path: it monitors tags and feeds their samples
// into sink, the same sink type a plc.Poller writes to. A tag's deadband
// (in engineering units) becomes a server-side absolute deadband in raw
// units: through the tag's scaling when it has one, and, for a percent
// deadband, of the engineering range (scaling, else write limits); a
// percent deadband without a range is left to the layer above.
func (d *Driver) Subscribe(ctx context.Context, cfg SubscriptionConfig, tags []plc.Tag, sink plc.Sink) (*Subscription, error) {
	items := make([]Item, len(tags))
	for i, t := range tags {
		items[i] = Item{Tag: t, Deadband: rawDeadband(t)}
	}
	return d.c.Subscribe(ctx, cfg, items, sink)
}

// rawDeadband converts a tag's engineering-unit deadband (plc.Tag.Band:
// absolute, or percent of the engineering range) to an absolute one in
// raw units.
func rawDeadband(t plc.Tag) plc.Deadband {
	if !t.Type.Kind.IsNumeric() {
		return plc.Deadband{}
	}
	width := t.Band()
	if width <= 0 {
		return plc.Deadband{}
	}
	if s := t.Scaling; s != nil && s.EngMax != s.EngMin {
		width *= math.Abs(s.RawMax-s.RawMin) / math.Abs(s.EngMax-s.EngMin)
	}
	return plc.Deadband{Mode: plc.DeadbandAbsolute, Value: width}
}

// String names the driver and its endpoint, for logs.
func (d *Driver) String() string {
	return "opcua " + strings.TrimSpace(d.c.cfg.Endpoint)
}
