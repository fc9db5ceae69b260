package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/transport"
)

// ErrNoFactory is returned when a Transport was built without the
// factory for the requested direction.
var ErrNoFactory = errors.New("tenant: no factory given to NewTransport")

// PublisherFunc opens a publisher on a full topic name, e.g. a closure
// over a Pulsar client from transport/pulsar.
type PublisherFunc func(ctx context.Context, topic string) (transport.Publisher, error)

// SubscriberFunc opens a subscriber on a full topic name; the closure
// carries the subscription name and type.
type SubscriberFunc func(ctx context.Context, topic string) (transport.Subscriber, error)

// Transport opens publishers and subscribers for one tenant, only on its
// own topics: names are built by Tenant.Topic from a namespace on the
// tenant's whitelist and a plain local name.
type Transport struct {
	t   *Tenant
	pub PublisherFunc
	sub SubscriberFunc
}

// NewTransport returns t's transport factory over pub and sub (either may
// be nil when not needed).
func NewTransport(t *Tenant, pub PublisherFunc, sub SubscriberFunc) *Transport {
	return &Transport{t: t, pub: pub, sub: sub}
}

// Publisher opens a publisher on persistent://<tenant>/<ns>/<topic>.
// Names outside the tenant get an error wrapping ErrTopic and open
// nothing.
func (x *Transport) Publisher(ctx context.Context, ns, topic string) (transport.Publisher, error) {
	name, err := x.t.Topic(ns, topic)
	if err != nil {
		return nil, err
	}
	if x.pub == nil {
		return nil, fmt.Errorf("%w: publisher", ErrNoFactory)
	}
	return x.pub(ctx, name)
}

// Subscriber opens a subscriber on persistent://<tenant>/<ns>/<topic>.
func (x *Transport) Subscriber(ctx context.Context, ns, topic string) (transport.Subscriber, error) {
	name, err := x.t.Topic(ns, topic)
	if err != nil {
		return nil, err
	}
	if x.sub == nil {
		return nil, fmt.Errorf("%w: subscriber", ErrNoFactory)
	}
	return x.sub(ctx, name)
}
