package ingest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A supervisor restarts a child by serving it again: the second Serve
// subscribes afresh and the metrics go on from where they were.
func TestServeAgainAfterItReturned(t *testing.T) {
	r := newRig(t, Config{MaxBatchDelay: time.Millisecond})
	messages := func() float64 { return testutil.ToFloat64(r.in.m.messages.WithLabelValues("acme")) }
	r.sp.publish(acme1, batchMsg("acme", "a.", 1, 0, 10))
	r.start()
	waitFor(t, "first batch written", func() bool { return messages() == 1 })
	r.stop()

	r.sp.publish(acme1, batchMsg("acme", "a.", 2, 10, 10))
	r.start()
	waitFor(t, "second batch written by the second Serve", func() bool { return messages() == 2 })
	r.stop()
	if n := r.rows("acme", "a."); n != 20 {
		t.Fatalf("%d rows, want 20", n)
	}
}
