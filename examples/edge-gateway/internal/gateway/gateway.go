package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	kconfig "github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/console"
	"github.com/kiln-iot/kiln/console/auth"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/httpserve"
	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/supervise"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/batcher"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/route"
	"github.com/kiln-iot/kiln/transport/spool"
)

// Option sets a code-only setting of New.
type Option func(*Gateway)

// WithLogger logs through l (default none).
func WithLogger(l *zap.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithClock sets the clock for ages and audit times (default the system
// clock).
func WithClock(c clock.Clock) Option { return func(g *Gateway) { g.clk = c } }

// Plant is a simulated plant the gateway runs in-process and reads in
// demo mode (examples/plcsim/sim's Plant is one). The gateway package does
// not link a simulator itself: the demo build of the command passes one
// with WithPlant, a production build none.
type Plant interface {
	// PointDB returns the plant's devices, groups and tags.
	PointDB() (*plc.PointDB, error)
	// Serve runs the plant until ctx is done.
	Serve(ctx context.Context) error
	// Close stops the plant's servers.
	Close() error
	// S7Addr and OPCUAEndpoint are where its simulated PLC and OPC UA
	// server listen.
	S7Addr() string
	OPCUAEndpoint() string
}

// ErrNoDemo is returned by New when the configuration asks for the demo
// plant but none was given with WithPlant (a production build).
var ErrNoDemo = errors.New("gateway: this build has no demo plant: configure devices and tag_files, or set demo: off")

// WithPlant makes the demo plant, when the configuration runs the demo,
// with newPlant, which gets the plant's logger.
func WithPlant(newPlant func(log *zap.Logger) (Plant, error)) Option {
	return func(g *Gateway) { g.newPlant = newPlant }
}

// WithBacklogBytes bounds the encoded batches held in memory while the
// spool refuses appends (default 32 MiB); beyond it the oldest are
// dropped, counted and logged.
func WithBacklogBytes(n int) Option { return func(g *Gateway) { g.backlog = n } }

// subscription is an OPC UA device read by subscription.
type subscription struct {
	device string
	drv    *opcua.Driver
	tags   []plc.Tag
	cfg    opcua.SubscriptionConfig
}

// Gateway is one edge gateway: its devices, poller, spool, uplink, write
// path and HTTP API.
type Gateway struct {
	cfg     config.Config
	log     *zap.Logger
	clk     clock.Clock
	reg     *prometheus.Registry
	backlog int // bytes; 0 for the default

	newPlant func(*zap.Logger) (Plant, error)
	plant    Plant
	db       *plc.PointDB
	drivers  map[string]plc.Driver
	poller   *plc.Poller
	subs     []subscription
	pushed   *latest
	sp       *spool.Spool
	enc      *batcher.Batcher
	writer   *plc.Writer
	audits   *auditLog
	// hub hands every sample read to the console's live streams.
	hub          console.Hub
	console      *console.Console
	consoleUsers *auth.FileUsers

	store *sqlitestore.Store
	pub   *pulsar.Publisher // the data topic
	apub  *pulsar.Publisher // the audit topic
	fwd   *forward.Forwarder
	// cmdSub is the command topic's subscriber while it runs.
	cmdSub atomic.Pointer[pulsar.Subscriber]

	// ha is the node's part in an HA pair, nil for a gateway alone.
	ha *haNode

	sup      *supervise.Supervisor
	http     *httpserve.Server
	metrics  *metrics
	started  time.Time
	closeMu  sync.Mutex
	closed   bool
	closeErr error
}

// New opens everything the gateway needs (the demo plant, the drivers, the
// spool, the store or the Pulsar producer, the HTTP listener) and returns
// it ready to Serve. cfg gets its defaults applied.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := checkTopics(cfg); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: zap.NewNop(), reg: prometheus.NewRegistry(), drivers: map[string]plc.Driver{}}
	for _, o := range opts {
		o(g)
	}
	g.clk = clock.Or(g.clk)
	g.started = g.clk.Now()
	var err error
	ok := false
	defer func() {
		if !ok {
			_ = g.Close()
		}
	}()
	g.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if cfg.DemoEnabled() {
		if g.newPlant == nil {
			return nil, ErrNoDemo
		}
		if g.plant, err = g.newPlant(g.log.Named("plant")); err != nil {
			return nil, err
		}
	}
	if g.db, err = g.pointDB(); err != nil {
		return nil, err
	}

	for _, dev := range g.db.Devices {
		d, err := plc.Open(dev, plc.OpenOptions{Logger: g.log.Named(dev.Name), Registerer: g.reg})
		if err != nil {
			return nil, fmt.Errorf("device %q: %w", dev.Name, err)
		}
		g.drivers[dev.Name] = d
	}
	writeDrivers := g.drivers
	if cfg.HA != nil {
		if g.ha, writeDrivers, err = newHA(g, *cfg.HA); err != nil {
			return nil, err
		}
		g.reg.MustRegister(g.ha.el)
	}
	pollDB, err := g.splitSubscriptions()
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	if g.sp, err = spool.Open(cfg.Spool, spool.WithLogger(g.log.Named("spool"))); err != nil {
		return nil, err
	}
	g.reg.MustRegister(g.sp)
	if g.enc, err = batcher.New(g.sp, batcher.Config{Source: cfg.ID, Tenant: cfg.Tenant, BacklogBytes: g.backlog},
		batcher.WithClock(g.clk), batcher.WithLogger(g.log.Named("batcher"))); err != nil {
		return nil, err
	}
	g.pushed = newLatest()
	sink := plc.SinkFunc(func(ctx context.Context, ss []plc.Sample) error {
		_ = g.hub.WriteSamples(ctx, ss)
		return g.enc.WriteSamples(ctx, ss)
	})
	if g.poller, err = plc.NewPoller(pollDB, g.drivers, sink, plc.WithPollerLogger(g.log.Named("poller")), plc.WithPollerMaxBatch(g.enc.MaxBatch())); err != nil {
		return nil, err
	}
	g.reg.MustRegister(g.poller)
	g.audits = newAuditLog(g, 10000)
	if g.writer, err = plc.NewWriter(plc.WriterConfig{Verify: !cfg.Writes.NoVerify, Tolerance: cfg.Writes.Tolerance},
		g.db, writeDrivers, g.audits, plc.WithAuthorizer(g.authorize), plc.WithWriterLogger(g.log.Named("writes")), plc.WithWriterClock(g.clk), plc.WithSharedTags()); err != nil {
		return nil, err
	}

	switch cfg.Transport.Kind {
	case config.TransportEmbedded:
		if g.store, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: cfg.Store.Path, Retention: cfg.Store.Retention}, sqlitestore.WithLogger(g.log.Named("store"))); err != nil {
			return nil, err
		}
		g.reg.MustRegister(g.store)
	case config.TransportPulsar:
		if g.pub, err = pulsar.NewPublisher(cfg.Transport.Pulsar, pulsar.WithLogger(g.log.Named("pulsar"))); err != nil {
			return nil, err
		}
		acfg := cfg.Transport.Pulsar
		acfg.Topic, acfg.ProducerName = cfg.Transport.AuditTopic, acfg.ProducerName+"-audit"
		if g.apub, err = pulsar.NewPublisher(acfg, pulsar.WithLogger(g.log.Named("pulsar-audit"))); err != nil {
			return nil, err
		}
		// Batches to the data topic, audit records (and anything else) to
		// the audit topic, so an ingestor of the data topic sees batches
		// only.
		isBatch := func(m transport.Message) bool { return command.Kind(m) == command.KindBatch }
		if g.fwd, err = forward.New(g.sp, route.New(g.apub, route.Route{Match: isBatch, To: g.pub}), cfg.Transport.Forward, forward.WithLogger(g.log.Named("forward")), forward.WithName(cfg.ID)); err != nil {
			return nil, err
		}
		g.reg.MustRegister(g.fwd)
	}

	if g.console, err = g.newConsole(ctx); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}

	smetrics := supervise.NewMetrics()
	g.reg.MustRegister(smetrics)
	if g.sup, err = supervise.New(supervise.Config{Name: "edge-gateway"}, supervise.WithLogger(g.log.Named("supervise")), supervise.WithMetrics(smetrics)); err != nil {
		return nil, err
	}
	g.metrics = newMetrics(g)
	g.reg.MustRegister(g.metrics)

	if g.http, err = httpserve.Listen(httpserve.Config{Listen: cfg.HTTP.Listen}, g.Handler(), httpserve.WithLogger(g.log.Named("http"))); err != nil {
		if errors.Is(err, kconfig.ErrInvalid) {
			return nil, kconfig.Prefix("http", err)
		}
		return nil, fmt.Errorf("http.listen: %w", err) // the address is taken or not ours
	}
	ok = true
	return g, nil
}

// checkTopics refuses Pulsar topics of another tenant than the gateway's:
// its batches name its tenant, and an ingestor dead-letters every batch
// whose tenant is not its topic's.
func checkTopics(cfg config.Config) error {
	if cfg.Transport.Kind != config.TransportPulsar {
		return nil
	}
	var p kconfig.Problems
	check := func(path, topic string) {
		if topic == "" || topic == "off" {
			return
		}
		tp, err := tenant.ParseTopic(topic)
		switch {
		case err != nil:
			p.Add(path, "%v", err)
		case tp.Tenant != cfg.Tenant:
			p.Add(path, "topic %q belongs to tenant %q, but the gateway's tenant is %q: every batch would be dead-lettered by the ingestor", topic, tp.Tenant, cfg.Tenant)
		}
	}
	check("transport.pulsar.topic", cfg.Transport.Pulsar.Topic)
	check("transport.command_topic", cfg.Transport.CommandTopic)
	check("transport.audit_topic", cfg.Transport.AuditTopic)
	return p.Err()
}

// pointDB builds the point database: the demo plant's, or the configured
// devices and groups plus the tag files.
func (g *Gateway) pointDB() (*plc.PointDB, error) {
	if g.plant != nil && len(g.cfg.Devices) == 0 && len(g.cfg.TagFiles) == 0 {
		return g.plant.PointDB()
	}
	db := &plc.PointDB{}
	for _, d := range g.cfg.Devices {
		db.Devices = append(db.Devices, plc.Device{Name: d.Name, Driver: d.Driver, Endpoint: d.Endpoint, Options: d.Options})
	}
	for _, gr := range g.cfg.Groups {
		sg := plc.ScanGroup{Name: gr.Name, Rate: gr.Rate}
		sg.FullRefresh, _ = plc.ParseFullRefresh(gr.FullRefresh) // checked by Validate
		db.Groups = append(db.Groups, sg)
	}
	for _, f := range g.cfg.TagFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var perr error
		if len(f) > 4 && f[len(f)-4:] == ".csv" {
			perr = db.AddCSV(f, data)
		} else {
			perr = db.AddYAML(f, data)
		}
		if perr != nil {
			return nil, perr
		}
	}
	if err := db.Validate(); err != nil {
		return nil, err
	}
	if len(db.Tags) == 0 {
		return nil, errors.New("no tags: configure tag_files (or run the demo)")
	}
	// A database loaded from files keeps where each field was written, for
	// its error messages (about 0.7 KB a tag); once it has passed, a copy
	// made by code serves as well without them.
	lean := &plc.PointDB{Devices: db.Devices, Groups: db.Groups, Tags: db.Tags}
	if err := lean.Validate(); err != nil {
		return nil, err
	}
	return lean, nil
}

// splitSubscriptions takes the tags of subscribed OPC UA devices out of
// the poller's database.
func (g *Gateway) splitSubscriptions() (*plc.PointDB, error) {
	subscribed := map[string]*subscription{}
	for _, d := range g.cfg.Devices {
		if !d.Subscribe {
			continue
		}
		drv, ok := g.drivers[d.Name].(*opcua.Driver)
		if !ok {
			return nil, fmt.Errorf("device %q: subscriptions need the opcua driver", d.Name)
		}
		g.subs = append(g.subs, subscription{device: d.Name, drv: drv, cfg: opcua.SubscriptionConfig{PublishingInterval: d.PublishingInterval}})
	}
	if len(g.subs) == 0 {
		return g.db, nil // one database for poller and writer
	}
	for i := range g.subs {
		subscribed[g.subs[i].device] = &g.subs[i]
	}
	poll := &plc.PointDB{Devices: g.db.Devices, Groups: g.db.Groups}
	for _, t := range g.db.Tags {
		if s := subscribed[t.Device]; s != nil {
			s.tags = append(s.tags, t)
			continue
		}
		poll.Tags = append(poll.Tags, t)
	}
	if err := poll.Validate(); err != nil {
		return nil, err
	}
	return poll, nil
}

// Addr returns the HTTP API's address.
func (g *Gateway) Addr() string { return g.http.Addr().String() }

// Plant returns the in-process demo plant, or nil.
func (g *Gateway) Plant() Plant { return g.plant }

// PointDB returns the gateway's point database.
func (g *Gateway) PointDB() *plc.PointDB { return g.db }

// PollerStats returns the poller's counters, per scan group.
func (g *Gateway) PollerStats() []plc.GroupStats { return g.poller.Stats() }

// Registry returns the gateway's Prometheus registry.
func (g *Gateway) Registry() *prometheus.Registry { return g.reg }

// Stats are the gateway's own counters.
type Stats struct {
	// SamplesSpooled counts samples durably appended to the spool.
	SamplesSpooled uint64 `json:"samples_spooled"`
	// MessagesSpooled counts spooled messages: batches and audit records.
	MessagesSpooled uint64 `json:"messages_spooled"`
	// SpoolFailures counts appends the spool refused (their batches wait
	// in memory and are retried).
	SpoolFailures uint64 `json:"spool_failures"`
	// SamplesHeld is the samples waiting in memory for the spool to take
	// them again.
	SamplesHeld int64 `json:"samples_held"`
	// SamplesDropped counts samples lost because the in-memory backlog
	// overflowed while the spool refused appends (each drop is logged).
	SamplesDropped uint64 `json:"samples_dropped"`
	// Writes counts write requests by result code.
	Writes map[string]uint64 `json:"writes"`
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	st := g.enc.Stats()
	return Stats{SamplesSpooled: st.SamplesSpooled, MessagesSpooled: st.MessagesSpooled,
		SpoolFailures: st.Failures, SamplesHeld: st.SamplesHeld, SamplesDropped: st.SamplesDropped,
		Writes: g.audits.counts()}
}

// ForwarderStatus returns the forwarder's status; ok is false with the
// embedded transport.
func (g *Gateway) ForwarderStatus() (st forward.Status, ok bool) {
	if g.fwd == nil {
		return st, false
	}
	return g.fwd.Status(), true
}

// Serve runs the gateway's supervisor tree until ctx is done, then stops
// in reverse order (HTTP, polling and subscriptions, the uplink, which
// waits for in-flight confirmations) and returns nil; or the tree's
// error: one wrapping supervise.ErrStopTimeout names the children that
// did not stop in time and were left behind, an *supervise.EscalationError
// says the tree gave up.
func (g *Gateway) Serve(ctx context.Context) error {
	for _, s := range g.specs() {
		if err := g.sup.Add(ctx, s); err != nil {
			return err
		}
	}
	return g.sup.Serve(ctx)
}

// service adapts a run function that returns when ctx is done to a
// supervised child that ends cleanly then.
func service(run func(ctx context.Context) error) func() (supervise.Service, error) {
	return func() (supervise.Service, error) {
		return supervise.ServiceFunc(func(ctx context.Context) error {
			err := run(ctx)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}), nil
	}
}

// specs lists the supervised children in start order.
func (g *Gateway) specs() []supervise.Spec {
	var specs []supervise.Spec
	if g.plant != nil {
		specs = append(specs, supervise.Spec{Name: "plant", New: service(g.plant.Serve)})
	}
	if g.store != nil {
		specs = append(specs,
			supervise.Spec{Name: "store", New: service(g.store.Serve)},
			supervise.Spec{Name: "local-store", New: service(g.runLocalStore)})
	}
	// In an HA pair only the active node forwards and takes commands; a
	// warm standby trims its spool instead, a cold one reads nothing.
	forwarder, commands, reading := g.fwd.Serve, g.runCommands, g.poller.Serve
	reads := func(run func(context.Context) error) func(context.Context) error { return run }
	if g.ha != nil {
		specs = append(specs, supervise.Spec{Name: "ha", New: service(g.ha.el.Serve)})
		if g.cfg.HA.Peer != "" {
			specs = append(specs, supervise.Spec{Name: "ha-heartbeat", New: service(g.ha.runHeartbeat)})
		}
		var trim func(context.Context) error
		if !g.ha.cold() {
			trim = g.ha.trim
		}
		forwarder, commands = g.ha.byRole(g.fwd.Serve, trim), g.ha.byRole(g.runCommands, nil)
		if g.ha.cold() {
			reads = func(run func(context.Context) error) func(context.Context) error { return g.ha.byRole(run, nil) }
		}
	}
	if g.fwd != nil {
		specs = append(specs, supervise.Spec{Name: "forwarder", New: service(forwarder), Shutdown: g.cfg.Transport.Forward.ShutdownTimeout + 5*time.Second})
		if ct := g.cfg.Transport.CommandTopic; ct != "" && ct != "off" {
			specs = append(specs, supervise.Spec{Name: "commands", New: service(commands)})
		}
	}
	for _, s := range g.subs {
		specs = append(specs, supervise.Spec{Name: "subscription-" + s.device, New: service(reads(func(ctx context.Context) error {
			return g.runSubscription(ctx, s)
		}))})
	}
	specs = append(specs,
		supervise.Spec{Name: "spool-retry", New: service(g.enc.Serve)},
		supervise.Spec{Name: "poller", New: service(reads(reading))},
		// httpserve reports requests that outlived its shutdown timeout
		// (ErrShutdownTimeout) after ctx is done: not swallowed by service.
		// The console's live streams end when the server stops, so they do
		// not hold up its graceful shutdown.
		supervise.Spec{Name: "http", Shutdown: httpserve.DefaultShutdownTimeout + 5*time.Second,
			New: func() (supervise.Service, error) {
				return supervise.ServiceFunc(func(ctx context.Context) error {
					stop := context.AfterFunc(ctx, func() { _ = g.console.Close() })
					defer stop()
					return g.http.Serve(ctx)
				}), nil
			}})
	return specs
}

// runSubscription monitors one OPC UA device's tags until ctx is done.
func (g *Gateway) runSubscription(ctx context.Context, s subscription) error {
	byName := map[string]*plc.Tag{}
	for i := range s.tags {
		byName[s.tags[i].Name] = &s.tags[i]
	}
	var buf []plc.Sample
	sink := plc.SinkFunc(func(ctx context.Context, samples []plc.Sample) error {
		// Subscriptions deliver raw values; scale them as the poller does.
		buf = buf[:0]
		for _, smp := range samples {
			if t := byName[smp.Tag]; t != nil {
				smp.Value = t.ToEngineering(smp.Value)
			}
			buf = append(buf, smp)
		}
		g.pushed.put(buf)
		_ = g.hub.WriteSamples(ctx, buf)
		return g.enc.WriteSamples(ctx, buf)
	})
	sub, err := s.drv.Subscribe(ctx, s.cfg, s.tags, sink)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return sub.Close()
}

// Close releases everything New opened: the HTTP listener, the drivers,
// the uplink, the store, the spool and the plant. It is idempotent.
func (g *Gateway) Close() error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		return g.closeErr
	}
	g.closed = true
	var errs []error
	if g.console != nil {
		_ = g.console.Close()
	}
	if g.http != nil {
		_ = g.http.Close() // already stopped by a served HTTP server
	}
	for name, d := range g.drivers {
		if err := d.Close(); err != nil {
			errs = append(errs, fmt.Errorf("device %q: %w", name, err))
		}
	}
	if g.pub != nil {
		errs = append(errs, g.pub.Close())
	}
	if g.apub != nil {
		errs = append(errs, g.apub.Close())
	}
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	if g.sp != nil {
		errs = append(errs, g.sp.Close())
	}
	if g.plant != nil {
		errs = append(errs, g.plant.Close())
	}
	g.closeErr = errors.Join(errs...)
	return g.closeErr
}
