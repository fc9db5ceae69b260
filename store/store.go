package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kiln-iot/kiln/plc"
)

// Store keeps samples per tenant. Implementations: pgstore (PostgreSQL)
// and sqlitestore (embedded SQLite). All methods are safe for concurrent
// use.
type Store interface {
	// Write stores samples for tenant in one transaction: all of them or,
	// on error, none. A sample whose (tenant, tag, time) is already stored,
	// or repeated earlier in the batch, is skipped: the first write wins,
	// so a batch delivered twice leaves one row per sample. Samples older
	// than the retention horizon are skipped too. Invalid samples fail the
	// whole batch with a *SampleError.
	Write(ctx context.Context, tenant string, samples []plc.Sample) (WriteResult, error)
	// WriteBatches stores batches for tenant in one transaction, like
	// Write, and records the identity (Source, Epoch, Seq) of each batch
	// that has a Source in the same transaction; a batch whose identity
	// is already recorded is skipped whole (counted in Redelivered), so
	// redelivery of a committed batch, to this process or to another one
	// writing the same database at the same time, adds nothing. Batches
	// without a Source are written as Write writes samples.
	WriteBatches(ctx context.Context, tenant string, batches []Batch) (WriteResult, error)
	// Latest returns the newest sample of each of tenant's tags, by tag
	// name.
	Latest(ctx context.Context, tenant string) ([]plc.Sample, error)
	// Range returns up to limit samples of one tag with from <= Time < to,
	// oldest first. To page on, call again with from set to the last
	// sample's Time plus Resolution.
	Range(ctx context.Context, tenant, tag string, from, to time.Time, limit int) ([]plc.Sample, error)
	// Reader has the trend queries: LatestOf and Aggregate.
	Reader
	// Tags returns the names of tenant's tags that have stored samples, in
	// order.
	Tags(ctx context.Context, tenant string) ([]string, error)
	// Close releases the store's resources. It is idempotent.
	Close() error
}

// Batch is one batch of samples as a source sent it.
//
// (Source, Epoch, Seq) names the batch: Source is the gateway, Seq
// increases with every batch it sends, and Epoch names one run of Seq. A
// source must pick a new Epoch whenever Seq may start over or repeat
// (a restart without its old state, a fresh spool, a clock set back);
// the gateway picks a random one at every start. Batches of one source
// may arrive in any order and any number of times: every identity is
// written once, whatever the order, so a gateway restarted with a reset
// sequence loses nothing (its new epoch makes its batches new) and
// duplicates nothing (its old batches keep their identity in its spool).
type Batch struct {
	// Source identifies the sender; empty means the batch has no
	// identity and is not recorded.
	Source string
	// Epoch names one run of Seq of the source.
	Epoch uint64
	// Seq is the batch's number in its epoch.
	Seq uint64
	// Samples are the batch's samples.
	Samples []plc.Sample
}

// WriteResult counts what a Write did with its samples.
type WriteResult struct {
	// Inserted samples are new rows.
	Inserted int
	// Duplicates were already stored or repeated within the batch.
	Duplicates int
	// Expired samples were older than the retention horizon and dropped.
	Expired int
	// Redelivered samples belong to batches already recorded; their
	// batches were skipped whole.
	Redelivered int
}

// Resolution is the precision of stored times: source times are truncated
// to whole microseconds (PostgreSQL's timestamptz), and two samples of a
// tag within the same microsecond are the same sample.
const Resolution = time.Microsecond

// MaxRangeLimit caps the limit of one Range call.
const MaxRangeLimit = 100_000

// Sentinel errors.
var (
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNoTenant is returned when the tenant is empty or malformed.
	ErrNoTenant = errors.New("store: missing or malformed tenant")
	// ErrNoTag is returned by Range for an empty tag name.
	ErrNoTag = errors.New("store: missing tag")
	// ErrLimit is returned by Range for a limit outside 1..MaxRangeLimit.
	ErrLimit = errors.New("store: range limit must be between 1 and 100000")
	// ErrSource is returned for a batch source longer than 255 bytes or
	// with control characters.
	ErrSource = errors.New("store: malformed batch source")
	// ErrBypassesRLS is returned by pgstore when its database role is a
	// superuser or has BYPASSRLS, so row-level security could not keep
	// tenants apart.
	ErrBypassesRLS = errors.New("store: database role bypasses row-level security; connect as a plain role")
)

// SampleError reports a sample that cannot be stored.
type SampleError struct {
	// Index is the sample's position in the batch.
	Index int
	// Tag is the sample's tag name.
	Tag string
	// Field names what is wrong: "Tag", "Time", "Value" or "Quality.Detail".
	Field string
	// Reason says how it is wrong.
	Reason string
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("store: sample %d (tag %q): %s: %s", e.Index, e.Tag, e.Field, e.Reason)
}

// Limits on names, so that keys stay indexable.
const (
	maxTenantLen = 255
	maxTagLen    = 1024
	maxSourceLen = 255
)

// CheckBatches validates batches like CheckSamples, with a sample's Index
// counted over all batches in order, and checks each Source.
func CheckBatches(batches []Batch) error {
	n := 0
	for i := range batches {
		b := &batches[i]
		if len(b.Source) > maxSourceLen || !printable(b.Source) {
			return fmt.Errorf("%w: batch %d: %q", ErrSource, i, b.Source)
		}
		if err := CheckSamples(b.Samples); err != nil {
			var se *SampleError
			if errors.As(err, &se) {
				se.Index += n
			}
			return err
		}
		n += len(b.Samples)
	}
	return nil
}

// CheckTenant returns ErrNoTenant unless tenant is non-empty text of at
// most 255 bytes without control characters. The tenant package applies
// the stricter rules for tenant ids.
func CheckTenant(tenant string) error {
	if tenant == "" || len(tenant) > maxTenantLen || !printable(tenant) {
		return fmt.Errorf("%w: %q", ErrNoTenant, tenant)
	}
	return nil
}

// CheckRange validates Range's arguments.
func CheckRange(tenant, tag string, limit int) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if limit < 1 || limit > MaxRangeLimit {
		return fmt.Errorf("%w (got %d)", ErrLimit, limit)
	}
	if tag == "" {
		return ErrNoTag
	}
	return nil
}

// CheckSamples validates a batch before anything is written: tags are
// non-empty UTF-8 text without control characters, times are set, values
// have a known kind, and quality details are UTF-8 without NUL.
func CheckSamples(samples []plc.Sample) error {
	for i := range samples {
		s := &samples[i]
		fail := func(field, reason string) error {
			return &SampleError{Index: i, Tag: s.Tag, Field: field, Reason: reason}
		}
		switch {
		case s.Tag == "":
			return fail("Tag", "empty")
		case len(s.Tag) > maxTagLen:
			return fail("Tag", fmt.Sprintf("longer than %d bytes", maxTagLen))
		case !printable(s.Tag):
			return fail("Tag", "not UTF-8 text without control characters")
		case s.Time.IsZero():
			return fail("Time", "not set")
		case s.Value.Kind() > plc.ByteString:
			return fail("Value", "unknown kind "+s.Value.Kind().String())
		case !utf8.ValidString(s.Quality.Detail) || strings.IndexByte(s.Quality.Detail, 0) >= 0:
			return fail("Quality.Detail", "not UTF-8 text without NUL")
		}
	}
	return nil
}

// Truncate returns t at the store's Resolution, in UTC.
func Truncate(t time.Time) time.Time { return t.Truncate(Resolution).UTC() }

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
