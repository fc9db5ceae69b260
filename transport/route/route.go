package route

import (
	"context"
	"errors"

	"github.com/kiln-iot/kiln/transport"
)

// Route sends the messages Match accepts to To.
type Route struct {
	Match func(transport.Message) bool
	To    transport.Publisher
}

// Publisher is a transport.Publisher that sends each message to the first
// route that matches it, or to the fallback. Make one with New.
type Publisher struct {
	routes []Route // the fallback last, matching everything
}

// New returns a Publisher over routes, tried in order, and fallback for
// the messages none matches. Close closes them all.
func New(fallback transport.Publisher, routes ...Route) *Publisher {
	all := append([]Route(nil), routes...)
	return &Publisher{routes: append(all, Route{Match: func(transport.Message) bool { return true }, To: fallback})}
}

// Publish splits msgs by route, keeping their order within each, and
// publishes the parts one after another in the order of the routes. done
// is called once per message, with its index in msgs. When a part is
// refused and no earlier part was taken, Publish returns the error and
// calls done for none; when an earlier part was taken, done reports the
// error for every message of the refused part and of the parts after it,
// so that no message is left without its done call and the caller
// retries them in order.
func (p *Publisher) Publish(ctx context.Context, msgs []transport.Message, done func(i int, err error)) error {
	idx := make([][]int, len(p.routes))
	parts := make([][]transport.Message, len(p.routes))
	for i, m := range msgs {
		for r := range p.routes {
			if p.routes[r].Match(m) {
				idx[r], parts[r] = append(idx[r], i), append(parts[r], m)
				break
			}
		}
	}
	taken := false
	var refused error
	for r, part := range parts {
		if len(part) == 0 {
			continue
		}
		if refused == nil {
			pos := idx[r]
			refused = p.routes[r].To.Publish(ctx, part, func(i int, err error) { done(pos[i], err) })
			if refused == nil {
				taken = true
				continue
			}
			if !taken {
				return refused
			}
		}
		for _, i := range idx[r] {
			done(i, refused)
		}
	}
	return nil
}

// Close closes every route's publisher and the fallback.
func (p *Publisher) Close() error {
	errs := make([]error, len(p.routes))
	for i, r := range p.routes {
		errs[i] = r.To.Close()
	}
	return errors.Join(errs...)
}
