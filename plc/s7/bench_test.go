package s7_test

import (
	"context"
	"io"
	"log"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/robinson/gos7"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// BenchmarkScan reads 1000 tags of mixed types over 10 DBs from s7sim at
// PDU 480 on loopback: with the planner, and the naive way (one gos7
// AGReadDB per tag). It reports round trips per scan, counted by the
// server, and the minimal round trips for the tag set.
func BenchmarkScan(b *testing.B) {
	log.SetOutput(io.Discard) // gos7 logs read errors through the standard logger
	tags, sizes := s7sim.ScatteredTags(1000, 10, 1)
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
		d, err := s7.New(s7.Config{Endpoint: srv.Addr()})
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

// BenchmarkFootprint measures the live heap a gateway keeps per tag for
// 100,000 DINT tags in ten groups: the point database, a plc.Poller
// reading them through this driver (prepared and planned after one read
// from s7sim) and a plc.Writer over them. It reports bytes per tag: the
// whole, and without the point database itself.
func BenchmarkFootprint(b *testing.B) {
	log.SetOutput(io.Discard)
	const n, groups = 100_000, 10
	srv, err := s7sim.New(s7sim.Config{MaxPDU: 960, DBs: map[int]int{1: 4 * n}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for b.Loop() {
		runtime.GC()
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		db := &plc.PointDB{Devices: []plc.Device{{Name: "plc", Driver: "s7"}}}
		for g := range groups {
			db.Groups = append(db.Groups, plc.ScanGroup{Name: "g" + strconv.Itoa(g), Rate: time.Second})
		}
		for i := range n {
			db.Tags = append(db.Tags, plc.Tag{Name: "Line.Tag" + strconv.Itoa(i), Device: "plc", Address: "DB1.DBD" + strconv.Itoa(4*i),
				Type: plc.TypeDInt, Group: "g" + strconv.Itoa(i%groups)})
		}
		if err := db.Validate(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		d, err := s7.New(s7.Config{Endpoint: srv.Addr()})
		if err != nil {
			b.Fatal(err)
		}
		drivers := map[string]plc.Driver{"plc": d}
		p, err := plc.NewPoller(db, drivers, plc.SinkFunc(func(context.Context, []plc.Sample) error { return nil }))
		if err != nil {
			b.Fatal(err)
		}
		w, err := plc.NewWriter(plc.WriterConfig{}, db, drivers, plc.AuditFunc(func(context.Context, plc.AuditRecord) error { return nil }), plc.WithSharedTags())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Serve(ctx) }()
		for _, st := range p.Stats() {
			for st.Scans == 0 {
				time.Sleep(10 * time.Millisecond)
				st = p.Stats()[slices.IndexFunc(p.Stats(), func(s plc.GroupStats) bool { return s.Group == st.Group })]
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m2)
		b.ReportMetric(float64(m2.HeapAlloc-m0.HeapAlloc)/n, "B/tag")
		b.ReportMetric(float64(m2.HeapAlloc-m1.HeapAlloc)/n, "B/tag-beyond-db")
		cancel()
		<-done
		runtime.KeepAlive(w)
		d.Close()
	}
}
