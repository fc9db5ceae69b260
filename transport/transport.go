package transport

import (
	"context"
	"errors"
	"time"
)

// Message is one unit moved by a transport.
type Message struct {
	// Key routes related messages together (key-shared subscriptions,
	// partitioning); for sample batches it is the source id.
	Key string
	// Payload is opaque to the transport.
	Payload []byte
	// Properties carry metadata such as the content type.
	Properties map[string]string
	// EventTime is when the content was produced; zero if unknown.
	EventTime time.Time
}

// Publisher sends messages to one destination (a topic, a spool).
type Publisher interface {
	// Publish hands msgs to the destination. When it returns nil, done will
	// be called exactly once for every message, by index, possibly from
	// another goroutine and in any order: with nil only once the
	// destination holds that message durably, otherwise with the reason it
	// does not. When it returns an error (closed, ctx done), nothing was
	// accepted and done is never called. Publish may block while the
	// destination applies back-pressure.
	Publish(ctx context.Context, msgs []Message, done func(i int, err error)) error
	// Close stops accepting messages, waits for the completions of those
	// already accepted (failing them if they cannot finish) and releases
	// resources. It is idempotent.
	Close() error
}

// Subscriber receives messages from one source (a subscription, a spool).
type Subscriber interface {
	// Receive blocks until a message is available or ctx is done.
	Receive(ctx context.Context) (Delivery, error)
	// Close stops receiving; unacknowledged deliveries will be redelivered
	// to whoever subscribes next. It is idempotent.
	Close() error
}

// Delivery is a received message awaiting its verdict.
type Delivery interface {
	Message() Message
	// Ack tells the source the message was processed; it will not be
	// delivered again.
	Ack() error
	// Nack asks for the message to be delivered again later.
	Nack() error
	// Redeliveries counts earlier deliveries of this message that were
	// not acknowledged (0 on the first delivery, when known).
	Redeliveries() int
}

// ErrClosed is returned by publishers and subscribers used after Close.
var ErrClosed = errors.New("transport: closed")
