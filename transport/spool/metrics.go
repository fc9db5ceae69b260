package spool

import "github.com/prometheus/client_golang/prometheus"

var (
	descRecords   = prometheus.NewDesc("kiln_spool_depth_records", "Unacknowledged records in the spool.", nil, nil)
	descBytes     = prometheus.NewDesc("kiln_spool_depth_bytes", "Bytes of segment files from the first unacknowledged record on.", nil, nil)
	descOldest    = prometheus.NewDesc("kiln_spool_oldest_age_seconds", "Age of the oldest unacknowledged record (0 when empty).", nil, nil)
	descSegments  = prometheus.NewDesc("kiln_spool_segments", "Segment files in the spool directory.", nil, nil)
	descAppends   = prometheus.NewDesc("kiln_spool_appended_records_total", "Records appended.", nil, nil)
	descAppendedB = prometheus.NewDesc("kiln_spool_appended_bytes_total", "Frame bytes appended.", nil, nil)
	descFsyncs    = prometheus.NewDesc("kiln_spool_fsyncs_total", "Data fsyncs.", nil, nil)
	descDropped   = prometheus.NewDesc("kiln_spool_dropped_records_total", "Records discarded by the drop-oldest policy.", nil, nil)
	descDroppedB  = prometheus.NewDesc("kiln_spool_dropped_bytes_total", "Segment bytes discarded by the drop-oldest policy.", nil, nil)
	descCorrupt   = prometheus.NewDesc("kiln_spool_corrupt_bytes_total", "Bytes skipped because they failed verification.", nil, nil)
	descCorruptR  = prometheus.NewDesc("kiln_spool_corrupt_records_total", "Records lost to corruption (sequence numbers missing where the reader passed).", nil, nil)
	descTruncated = prometheus.NewDesc("kiln_spool_truncated_bytes_total", "Torn-tail bytes truncated at open.", nil, nil)
	descWriteErrs = prometheus.NewDesc("kiln_spool_write_errors_total", "Appends failed by the file system.", nil, nil)
	descMaxBytes  = prometheus.NewDesc("kiln_spool_max_bytes", "The spool's size cap (Config.MaxBytes), for alerts on how full it is.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Spool) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descOldest, descSegments, descAppends, descAppendedB,
		descFsyncs, descDropped, descDroppedB, descCorrupt, descCorruptR, descTruncated, descWriteErrs, descMaxBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Spool) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(s.clk.Now().Sub(st.Oldest).Seconds(), 0)
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	c := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(descRecords, float64(st.Records))
	g(descBytes, float64(st.Bytes))
	g(descOldest, age)
	g(descSegments, float64(st.Segments))
	g(descMaxBytes, float64(s.cfg.MaxBytes))
	c(descAppends, st.Appended)
	c(descAppendedB, st.AppendedBytes)
	c(descFsyncs, st.Fsyncs)
	c(descDropped, st.DroppedRecords)
	c(descDroppedB, st.DroppedBytes)
	c(descCorrupt, st.CorruptBytes)
	c(descCorruptR, st.CorruptRecords)
	c(descTruncated, st.TruncatedBytes)
	c(descWriteErrs, st.WriteErrors)
}
