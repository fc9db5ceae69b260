// Package metrictest reads one value out of a Prometheus gatherer, for
// the tests of the stores' metrics:
//
//	got := metrictest.Value(t, reg, "kiln_store_retention_removed_total", "what", "batch_records")
package metrictest
