package plc_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

// BenchmarkPoller polls 100k tags in 10 scan groups against plctest; one
// op is one tick of every group. The tags of each group live on one
// device, or are split over two (devices=2: two Reads and two batches per
// group and tick). A given share of the tags changes beyond its deadband
// before each tick. It reports emitted samples per second of poller time
// and allocations per emitted sample (the poller's and the fake clock's,
// measured over the whole run).
func BenchmarkPoller(b *testing.B) {
	for _, devices := range []int{1, 2} {
		for _, pct := range []int{10, 100} {
			b.Run("devices="+strconv.Itoa(devices)+"/changed="+strconv.Itoa(pct)+"%", func(b *testing.B) { benchPoller(b, devices, pct) })
		}
	}
}

func benchPoller(b *testing.B, devices, changedPct int) {
	const groups, perGroup = 10, 10_000
	rate := 100 * time.Millisecond
	db := &plc.PointDB{}
	for d := range devices {
		db.Devices = append(db.Devices, plc.Device{Name: "d" + strconv.Itoa(d), Driver: plctest.DriverName})
	}
	for g := range groups {
		name := "g" + strconv.Itoa(g)
		db.Groups = append(db.Groups, plc.ScanGroup{Name: name, Rate: rate, FullRefresh: plc.NoFullRefresh})
		for i := range perGroup {
			tag := plc.Tag{Name: name + ".t" + strconv.Itoa(i), Device: db.Devices[i%devices].Name, Type: plc.TypeDInt, Group: name}
			tag.Address = tag.Name
			if i%2 == 0 {
				tag.Type = plc.TypeInt
				tag.Scaling = &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 100}
				tag.Deadband = plc.Deadband{Mode: plc.DeadbandPercent, Value: 0.5}
			}
			db.Tags = append(db.Tags, tag)
		}
	}
	clk := clock.NewFake(t0)
	drivers := map[string]plc.Driver{}
	devs := map[string]*plctest.Driver{}
	for _, d := range db.Devices {
		devs[d.Name] = plctest.New(plctest.WithNow(clk.Now))
		drivers[d.Name] = devs[d.Name]
	}
	var emitted atomic.Int64
	sink := plc.SinkFunc(func(_ context.Context, s []plc.Sample) error {
		emitted.Add(int64(len(s)))
		return nil
	})
	p, err := plc.NewPoller(db, drivers, sink, plc.WithPollerClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	waiting := loops(p) // scan loops: every one waits on the clock between ticks
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	clk.BlockUntil(waiting)

	// Every tick, the chosen share of the tags moves by 1000 raw counts
	// (3.6 % of the scaled range, beyond the 0.5 % band).
	type change struct {
		dev  *plctest.Driver
		addr string
		kind plc.Kind
	}
	step := 100 / changedPct
	var changing []change
	for i, t := range db.Tags {
		if i%step == 0 {
			changing = append(changing, change{devs[t.Device], t.Address, t.Type.Kind})
		}
	}
	emitted.Store(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		v := int64((n+1)%2) * 1000
		for _, c := range changing {
			c.dev.Set(c.addr, plc.IntValue(c.kind, v))
		}
		b.StartTimer()
		clk.Advance(rate)
		clk.BlockUntil(waiting)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	cancel()
	<-done

	e := emitted.Load()
	if e == 0 {
		b.Fatal("nothing emitted")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(e), "allocs/sample")
	b.ReportMetric(float64(e)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(groups*perGroup*b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(e)/float64(b.N), "samples/op")
}
