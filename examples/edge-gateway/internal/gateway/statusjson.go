package gateway

import (
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/spool"
)

// spoolStatus is spool.Stats as the API shows it: snake_case names,
// times in RFC 3339, the oldest record's age in seconds.
type spoolStatus struct {
	Records        int64      `json:"records"`
	Bytes          int64      `json:"bytes"`
	Oldest         *time.Time `json:"oldest,omitempty"`
	OldestAgeSec   float64    `json:"oldest_age_seconds"`
	Segments       int        `json:"segments"`
	Appended       uint64     `json:"appended"`
	AppendedBytes  uint64     `json:"appended_bytes"`
	Fsyncs         uint64     `json:"fsyncs"`
	DroppedRecords uint64     `json:"dropped_records"`
	DroppedBytes   uint64     `json:"dropped_bytes"`
	CorruptBytes   uint64     `json:"corrupt_bytes"`
	TruncatedBytes uint64     `json:"truncated_bytes"`
	CorruptRecords uint64     `json:"corrupt_records"`
	WriteErrors    uint64     `json:"write_errors"`
}

func newSpoolStatus(s spool.Stats, now time.Time) spoolStatus {
	out := spoolStatus{Records: s.Records, Bytes: s.Bytes, Segments: s.Segments, Appended: s.Appended,
		AppendedBytes: s.AppendedBytes, Fsyncs: s.Fsyncs, DroppedRecords: s.DroppedRecords, DroppedBytes: s.DroppedBytes,
		CorruptBytes: s.CorruptBytes, TruncatedBytes: s.TruncatedBytes, CorruptRecords: s.CorruptRecords, WriteErrors: s.WriteErrors}
	if !s.Oldest.IsZero() {
		o := s.Oldest
		out.Oldest = &o
		out.OldestAgeSec = now.Sub(o).Seconds()
	}
	return out
}

// groupStatus is plc.GroupStats as the API shows it: snake_case names,
// durations as Go duration strings ("100ms").
type groupStatus struct {
	Group            string     `json:"group"`
	Rate             string     `json:"rate"`
	Tags             int        `json:"tags"`
	Scans            uint64     `json:"scans"`
	Overruns         uint64     `json:"overruns"`
	SamplesRead      uint64     `json:"samples_read"`
	SamplesEmitted   uint64     `json:"samples_emitted"`
	SinkBlocked      string     `json:"sink_blocked"`
	SinkSlow         uint64     `json:"sink_slow"`
	ReadErrors       uint64     `json:"read_errors"`
	LastScan         *time.Time `json:"last_scan,omitempty"`
	LastScanDuration string     `json:"last_scan_duration"`
	// Devices breaks the group down by device: each scans on its own, so
	// a device whose reads hang shows its overruns here.
	Devices []deviceScanStatus `json:"devices"`
}

// deviceScanStatus is plc.DeviceStats as the API shows it.
type deviceScanStatus struct {
	Device           string `json:"device"`
	Tags             int    `json:"tags"`
	Scans            uint64 `json:"scans"`
	Overruns         uint64 `json:"overruns"`
	ReadErrors       uint64 `json:"read_errors"`
	LastScanDuration string `json:"last_scan_duration"`
}

func newGroupStatus(list []plc.GroupStats) []groupStatus {
	out := make([]groupStatus, len(list))
	for i, s := range list {
		out[i] = groupStatus{Group: s.Group, Rate: s.Rate.String(), Tags: s.Tags, Scans: s.Scans, Overruns: s.Overruns,
			SamplesRead: s.SamplesRead, SamplesEmitted: s.SamplesEmitted, SinkBlocked: s.SinkBlocked.String(),
			SinkSlow: s.SinkSlow, ReadErrors: s.ReadErrors, LastScanDuration: s.LastScanDuration.String()}
		if !s.LastScan.IsZero() {
			t := s.LastScan
			out[i].LastScan = &t
		}
		out[i].Devices = make([]deviceScanStatus, len(s.Devices))
		for k, d := range s.Devices {
			out[i].Devices[k] = deviceScanStatus{Device: d.Device, Tags: d.Tags, Scans: d.Scans, Overruns: d.Overruns,
				ReadErrors: d.ReadErrors, LastScanDuration: d.LastScanDuration.String()}
		}
	}
	return out
}
