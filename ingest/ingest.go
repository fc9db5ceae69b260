package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/tenant"
)

// Sentinel errors.
var (
	// ErrNotServing is Health's answer before Serve runs and after it
	// returned.
	ErrNotServing = errors.New("ingest: not serving")
	// ErrDraining is Health's answer while Serve writes what it holds
	// before returning.
	ErrDraining = errors.New("ingest: draining")
	// ErrServing is returned by a call of Serve while another runs.
	ErrServing = errors.New("ingest: already serving")
)

// Dead-letter reasons, the reason label of kiln_ingest_dead_letters_total
// and the PropReason property of a dead-lettered message.
const (
	// ReasonMalformed: not a kiln batch, undecodable, or holding invalid
	// samples, on its MaxDeliveries-th delivery.
	ReasonMalformed = "malformed"
	// ReasonTenantMismatch: the batch names another tenant than the topic
	// it came from. It is never written.
	ReasonTenantMismatch = "tenant_mismatch"
	// ReasonRejected: the store refused the message's samples for good
	// (a *store.SampleError, or a tenant quota that waiting cannot meet).
	ReasonRejected = "rejected"
)

// Properties added to a dead-lettered message (its own are kept).
const (
	PropReason      = "kiln-dead-letter-reason"
	PropError       = "kiln-dead-letter-error"
	PropOriginTopic = "kiln-dead-letter-origin"
	PropDeliveries  = "kiln-dead-letter-deliveries"
)

// Option sets a code-only setting of an Ingestor.
type Option func(*options)

type options struct {
	log   *zap.Logger
	clock clock.Clock
}

// WithLogger logs through l (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock of batch delays and retry waits (default the
// real one).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// Ingestor moves sample batches from every tenant's sample topics into a
// store. See the package documentation.
type Ingestor struct {
	cfg Config
	reg *tenant.Registry
	st  store.Store
	sub tenant.SubscriberFunc
	pub tenant.PublisherFunc
	o   options
	m   *metrics

	mu      sync.Mutex
	state   state
	sources []*source
}

type state int

const (
	idle state = iota
	serving
	draining
	done
)

// New returns an Ingestor for the tenants of reg, writing to st. sub
// opens a subscriber on a full topic name (for several replicas, a
// shared subscription); pub opens the publisher of a dead-letter topic.
// Both are called through each tenant's tenant.Transport, so only the
// tenant's own topics are ever opened.
func New(cfg Config, reg *tenant.Registry, st store.Store, sub tenant.SubscriberFunc, pub tenant.PublisherFunc, opts ...Option) (*Ingestor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case reg == nil:
		return nil, errors.New("ingest: nil tenant registry")
	case st == nil:
		return nil, errors.New("ingest: nil store")
	case sub == nil:
		return nil, errors.New("ingest: nil subscriber factory")
	case pub == nil:
		return nil, errors.New("ingest: nil dead-letter publisher factory")
	}
	o := options{log: zap.NewNop(), clock: clock.Real}
	for _, f := range opts {
		f(&o)
	}
	return &Ingestor{cfg: cfg.withDefaults(), reg: reg, st: st, sub: sub, pub: pub, o: o, m: newMetrics()}, nil
}

// Topics returns the full names of the topics Serve reads, in order.
func (in *Ingestor) Topics() []string {
	var out []string
	for _, id := range in.reg.IDs() {
		t, _ := in.reg.Tenant(id)
		for _, ns := range t.Namespaces() {
			name, err := t.Topic(ns, in.cfg.Topic)
			if err == nil {
				out = append(out, name)
			}
		}
	}
	return out
}

// Serve subscribes to every tenant's sample topic in each of its
// namespaces and writes what arrives until ctx is done. Then it stops
// receiving, writes and acknowledges the batches it holds (within
// DrainTimeout), closes the subscribers and returns nil. It returns an
// error without serving when a subscriber cannot be opened. Serve may be
// called again once it returned (a supervisor's restart): it subscribes
// afresh, and the metrics go on counting.
func (in *Ingestor) Serve(ctx context.Context) error {
	in.mu.Lock()
	if in.state == serving || in.state == draining {
		in.mu.Unlock()
		return ErrServing
	}
	in.state = serving
	in.mu.Unlock()

	var sources []*source
	fail := func(err error) error {
		for _, s := range sources {
			_ = s.sub.Close()
		}
		in.mu.Lock()
		in.state = done
		in.mu.Unlock()
		return err
	}
	for _, id := range in.reg.IDs() {
		t, err := in.reg.Tenant(id)
		if err != nil {
			return fail(err)
		}
		ts := tenant.NewStore(t, in.st)
		tr := tenant.NewTransport(t, in.pub, in.sub)
		for _, ns := range t.Namespaces() {
			topic, err := t.Topic(ns, in.cfg.Topic)
			if err != nil {
				return fail(fmt.Errorf("ingest: %w", err))
			}
			sub, err := tr.Subscriber(ctx, ns, in.cfg.Topic)
			if err != nil {
				return fail(fmt.Errorf("ingest: subscribing to %s: %w", topic, err))
			}
			sources = append(sources, newSource(in, t, ns, topic, ts, tr, sub))
		}
	}
	in.mu.Lock()
	in.sources = sources
	in.mu.Unlock()
	in.o.log.Info("ingest: serving", zap.Int("topics", len(sources)))

	var wg sync.WaitGroup
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	<-ctx.Done()
	in.mu.Lock()
	in.state = draining
	in.mu.Unlock()
	in.o.log.Info("ingest: draining")
	wg.Wait()
	in.mu.Lock()
	in.state = done
	in.mu.Unlock()
	in.o.log.Info("ingest: stopped")
	return nil
}

// Health reports nil while Serve runs with every subscriber connected and
// the store accepting writes; otherwise ErrNotServing, ErrDraining, or
// the problems of each topic joined.
func (in *Ingestor) Health() error {
	in.mu.Lock()
	st, sources := in.state, in.sources
	in.mu.Unlock()
	switch st {
	case idle, done:
		return ErrNotServing
	case draining:
		return ErrDraining
	}
	var errs []error
	for _, s := range sources {
		if err := s.health(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.topic, err))
		}
	}
	return errors.Join(errs...)
}
