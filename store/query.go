package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

// Reader is the read side of a Store, what a trend chart or a live view
// needs. Every call is scoped to one tenant.
type Reader interface {
	// LatestOf returns the newest sample of each of tags that has one,
	// ordered by tag name (bytewise); tags without samples are left out.
	// At most MaxLatestTags tags per call.
	LatestOf(ctx context.Context, tenant string, tags []string) ([]plc.Sample, error)
	// Aggregate folds one tag's samples with q.From <= Time < q.To into
	// q.Buckets buckets of equal width (see AggregateQuery); every bucket
	// is returned, empty ones with Count 0.
	Aggregate(ctx context.Context, tenant string, q AggregateQuery) ([]Bucket, error)
}

// MaxLatestTags caps the tags of one LatestOf call.
const MaxLatestTags = 10_000

// MaxBuckets caps the buckets of one Aggregate call.
const MaxBuckets = 100_000

// AggregateQuery selects the samples of one tag in a time range and how
// many buckets to fold them into.
type AggregateQuery struct {
	// Tag is the tag's name.
	Tag string
	// From and To bound the samples: From <= Time < To, at Resolution.
	From, To time.Time
	// Buckets is how many buckets [From, To) is cut into, 1..MaxBuckets.
	// Bucket i spans [From+⌈i·d/n⌉, From+⌈(i+1)·d/n⌉) with d = To−From
	// in Resolution units, so every bucket is at least one unit wide and
	// the last one ends at To exactly; To−From must be at least Buckets
	// units.
	Buckets int
}

// Bucket is what Aggregate computes over one bucket of time.
//
// Count and Bad cover every sample in the bucket. The value statistics
// (Values, Min, Max, First, Last, Mean, TimeWeighted) cover only the
// samples that carry a number (BOOL as 0 or 1, the integer kinds, REAL,
// LREAL; not STRING, BYTESTRING, DATETIME or no value), are not NaN and
// whose quality is not bad; they are zero when Values is 0.
//
// TimeWeighted is the mean of the value as a step function over the part
// of the bucket it is known: a sample's value holds from its time until
// the next sample of the tag (also one before the bucket or before From)
// or until To; a bad, NaN or non-numeric sample ends the value's hold.
// Weight is how long that part is; TimeWeighted is zero when Weight is 0.
// A bucket without samples can have a TimeWeighted value held into it.
type Bucket struct {
	// From and To bound the bucket: From <= Time < To.
	From, To time.Time
	// Count is the number of samples in the bucket.
	Count int
	// Bad reports whether any sample in the bucket has bad quality.
	Bad bool
	// Values is the number of samples in the value statistics.
	Values int
	// Min and Max are the smallest and largest value: the envelope a
	// chart draws so that no spike is lost.
	Min, Max float64
	// First and Last are the oldest and newest value, at FirstTime and
	// LastTime.
	First, Last         float64
	FirstTime, LastTime time.Time
	// Mean is the arithmetic mean of the values.
	Mean float64
	// TimeWeighted is the time-weighted mean over Weight.
	TimeWeighted float64
	// Weight is the time within the bucket for which a value was held.
	Weight time.Duration
}

// Errors of the read calls.
var (
	// ErrBuckets is returned by Aggregate for a bucket count outside
	// 1..MaxBuckets or a range narrower than one Resolution per bucket.
	ErrBuckets = errors.New("store: aggregate needs 1..100000 buckets of at least one microsecond each")
	// ErrTooManyTags is returned by LatestOf for more than MaxLatestTags
	// tags.
	ErrTooManyTags = errors.New("store: more than 10000 tags in one call")
)

// CheckAggregate validates Aggregate's arguments.
func CheckAggregate(tenant string, q AggregateQuery) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if q.Tag == "" {
		return ErrNoTag
	}
	span := Truncate(q.To).UnixMicro() - Truncate(q.From).UnixMicro()
	if q.Buckets < 1 || q.Buckets > MaxBuckets || span < int64(q.Buckets) {
		return fmt.Errorf("%w (%d buckets over %v)", ErrBuckets, q.Buckets, q.To.Sub(q.From))
	}
	return nil
}

// CheckLatestOf validates LatestOf's arguments.
func CheckLatestOf(tenant string, tags []string) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if len(tags) > MaxLatestTags {
		return fmt.Errorf("%w (got %d)", ErrTooManyTags, len(tags))
	}
	for _, tag := range tags {
		if tag == "" {
			return ErrNoTag
		}
	}
	return nil
}
