package s7_test

import (
	"context"
	"io"
	"log"
	"testing"

	"github.com/robinson/gos7"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/benchset"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// BenchmarkScan reads 1000 tags of mixed types over 10 DBs from s7sim at
// PDU 480 on loopback: with the planner, and the naive way (one gos7
// AGReadDB per tag). It reports round trips per scan, counted by the
// server, and the minimal round trips for the tag set.
func BenchmarkScan(b *testing.B) {
	log.SetOutput(io.Discard) // gos7 logs read errors through the standard logger
	tags, sizes := benchset.Tags(1000, 10, 1)
	srv, err := s7sim.New(s7sim.Config{MaxPDU: 480, DBs: sizes})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	addrs := make([]s7.Address, len(tags))
	for i, t := range tags {
		addrs[i], _ = s7.ParseAddress(t.Address, t.Type)
	}
	minimal := float64(s7.MinRoundTrips(addrs, 480))

	b.Run("planner", func(b *testing.B) {
		d, err := s7.New(srv.Addr(), s7.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		r, _ := d.Prepare(tags)
		out := make([]plc.Sample, len(tags))
		if err := r.Read(context.Background(), out); err != nil || !out[0].Quality.IsGood() {
			b.Fatal(err, out[0].Quality)
		}
		before, n := srv.Requests(), 0
		for b.Loop() {
			_ = r.Read(context.Background(), out)
			n++
		}
		b.ReportMetric(float64(srv.Requests()-before)/float64(n), "round-trips/scan")
		b.ReportMetric(minimal, "min-round-trips")
	})
	b.Run("naive", func(b *testing.B) {
		h := gos7.NewTCPClientHandler(srv.Addr(), 0, 1)
		h.IdleTimeout = 0
		if err := h.Connect(); err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		c := gos7.NewClient(h)
		buf := make([]byte, 256)
		before, n := srv.Requests(), 0
		for b.Loop() {
			for _, a := range addrs {
				if err := c.AGReadDB(a.DB, a.Offset, a.Size(), buf); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
		b.ReportMetric(float64(srv.Requests()-before)/float64(n), "round-trips/scan")
		b.ReportMetric(minimal, "min-round-trips")
	})
	if srv.Violations() != 0 {
		b.Errorf("%d requests broke the PDU", srv.Violations())
	}
}
