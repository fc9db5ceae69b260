package plc

import (
	"context"
	"time"
)

// Sample is one reading of one tag.
type Sample struct {
	// Tag is the tag's name.
	Tag     string
	Value   Value
	Quality Quality
	// Time is the source timestamp: when the value was read from the
	// device (or, for pushed values, when the device says it changed).
	Time time.Time
}

// Sink receives batches of samples from a Poller or a push source such as
// an OPC UA subscription. The slice is valid only during the call: a sink
// that keeps samples copies them. A sink that is slow blocks its producer;
// it returns an error only when the batch could not be taken, and then
// honours ctx.
type Sink interface {
	WriteSamples(ctx context.Context, samples []Sample) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, samples []Sample) error

// WriteSamples calls f.
func (f SinkFunc) WriteSamples(ctx context.Context, samples []Sample) error { return f(ctx, samples) }
