package spool

import (
	"time"

	"github.com/kiln-iot/kiln/config"
)

// SyncPolicy says when appended records are flushed to stable storage.
type SyncPolicy string

// The sync policies. The zero SyncPolicy means SyncBatch.
const (
	// SyncAlways fsyncs after every record, before the next is written.
	SyncAlways SyncPolicy = "always"
	// SyncBatch fsyncs once per Append call, after all its records are
	// written.
	SyncBatch SyncPolicy = "batch"
	// SyncInterval fsyncs in the background every Config.SyncInterval;
	// Append returns once the records are written to the operating system,
	// so they survive a crash of the process but not of the machine. The
	// cursor of acknowledged records is stored (fsynced) on the same
	// ticks, so after a crash up to an interval's acknowledged records are
	// delivered again.
	SyncInterval SyncPolicy = "interval"
)

// FullPolicy says what Append does when the spool has reached its size cap.
type FullPolicy string

// The full policies. The zero FullPolicy means FullBlock.
const (
	// FullBlock makes Append wait, honouring its context, until
	// acknowledgements free whole segments.
	FullBlock FullPolicy = "block"
	// FullDropOldest discards whole oldest segments, acknowledged or not,
	// counting and logging every record dropped.
	FullDropOldest FullPolicy = "drop-oldest"
)

// Defaults for the zero Config fields.
const (
	DefaultSegmentBytes   = 64 << 20
	DefaultMaxBytes       = 1 << 30
	DefaultMaxRecordBytes = 4 << 20
	DefaultSyncInterval   = time.Second
)

// Config is the spool's file-level configuration. The zero value of every
// field but Dir means the documented default.
type Config struct {
	// Dir is the spool's directory; it is created if missing. Required.
	Dir string `yaml:"dir"`
	// SegmentBytes is the size at which the active segment file is sealed
	// and a new one started (default 64 MiB).
	SegmentBytes int64 `yaml:"segment_bytes"`
	// MaxBytes caps the total size of the segment files (default 1 GiB).
	// It must be at least twice SegmentBytes, since space is reclaimed a
	// whole segment at a time.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxRecordBytes caps one record's payload (default 4 MiB, or
	// SegmentBytes less the 28-byte frame header if that is smaller).
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// Full is the policy at the size cap: "block" (default) or
	// "drop-oldest".
	Full FullPolicy `yaml:"full"`
	// Sync is the fsync policy: "always", "batch" (default) or "interval".
	Sync SyncPolicy `yaml:"sync"`
	// SyncInterval is the period of the "interval" policy (default 1s).
	SyncInterval time.Duration `yaml:"sync_interval"`
}

func (c Config) withDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = int(min(DefaultMaxRecordBytes, c.SegmentBytes-frameHeader))
	}
	if c.Full == "" {
		c.Full = FullBlock
	}
	if c.Sync == "" {
		c.Sync = SyncBatch
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	return c
}

// Validate reports every bad field, after applying defaults, each a
// *config.FieldError with the field's YAML key.
func (c Config) Validate() error {
	recordDefault := c.MaxRecordBytes == 0
	c = c.withDefaults()
	var p config.Problems
	if c.Dir == "" {
		p.Add("dir", "is required")
	}
	if c.SegmentBytes < 4096 {
		p.Add("segment_bytes", "%d is below 4096", c.SegmentBytes)
	}
	if c.MaxBytes < 2*c.SegmentBytes {
		p.Add("max_bytes", "%d is less than twice segment_bytes (%d)", c.MaxBytes, 2*c.SegmentBytes)
	}
	switch {
	case recordDefault && c.MaxRecordBytes < 0:
		// The default follows segment_bytes, reported above.
	case c.MaxRecordBytes < 0:
		p.Add("max_record_bytes", "%d is negative", c.MaxRecordBytes)
	case int64(c.MaxRecordBytes)+frameHeader > c.MaxBytes/2 && recordDefault:
		p.Add("max_record_bytes", "the default %d is more than half of max_bytes (%d): set it lower or raise max_bytes", c.MaxRecordBytes, c.MaxBytes)
	case int64(c.MaxRecordBytes)+frameHeader > c.MaxBytes/2:
		p.Add("max_record_bytes", "%d is more than half of max_bytes (%d)", c.MaxRecordBytes, c.MaxBytes)
	}
	if c.Full != FullBlock && c.Full != FullDropOldest {
		p.Add("full", "%q is not block or drop-oldest", c.Full)
	}
	if c.Sync != SyncAlways && c.Sync != SyncBatch && c.Sync != SyncInterval {
		p.Add("sync", "%q is not always, batch or interval", c.Sync)
	}
	if c.SyncInterval < 0 {
		p.Add("sync_interval", "%v is negative", c.SyncInterval)
	}
	return p.Err()
}
