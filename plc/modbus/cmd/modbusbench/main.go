package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func main() {
	n := flag.Int("tags", 1000, "number of register values")
	units := flag.Int("units", 5, "number of unit ids")
	latency := flag.Duration("latency", time.Millisecond, "the simulated device's time to answer each request")
	scans := flag.Int("scans", 30, "scans per row")
	inFlight := flag.Int("inflight", 8, "transactions in flight for the parallel rows")
	seed := flag.Uint64("seed", 1, "seed of the register set")
	flag.Parse()
	if err := run(*n, *units, *latency, *scans, *inFlight, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "modbusbench:", err)
		os.Exit(1)
	}
}

func run(n, units int, latency time.Duration, scans, inFlight int, seed uint64) error {
	set := modbussim.ScatteredRegisters(n, units, seed)
	fmt.Printf("%d register values over %d units, %v latency per request, %d scans each, loopback\n\n", n, units, latency, scans)
	fmt.Println("| server answers | driver | requests / scan | fewest possible | scan time (median) |")
	fmt.Println("| --- | --- | ---: | ---: | ---: |")
	fewest := modbus.MinRequests(set, 0, 0)
	rows := []struct {
		server, driver int
		gap            int
	}{
		{1, 1, 0}, {1, 1, modbus.NoGap}, {inFlight, 1, 0}, {inFlight, inFlight, 0},
	}
	for _, row := range rows {
		srv, err := modbussim.New(modbussim.Config{InFlight: row.server})
		if err != nil {
			return err
		}
		if err := srv.Fill(set, seed); err != nil {
			return err
		}
		srv.SetLatency(latency)
		cfg := modbus.Config{InFlight: row.driver, Gap: row.gap, Timeout: 5 * time.Second}
		res, err := measure(context.Background(), srv, cfg, set, scans)
		_ = srv.Close()
		if err != nil {
			return err
		}
		gap := "gaps filled"
		if row.gap == modbus.NoGap {
			gap = "no gaps read"
		}
		fmt.Printf("| %d at a time | in_flight %d, %s | %.1f | %d | %v |\n", row.server, row.driver, gap, res.Requests, fewest, res.Median.Round(time.Microsecond))
	}
	return nil
}

type result struct {
	Requests float64       // per scan
	Median   time.Duration // scan time
}

// measure scans set with a driver of cfg and returns the requests per
// scan and the median scan time; every sample must be good.
func measure(ctx context.Context, srv *modbussim.Server, cfg modbus.Config, set []modbus.Address, scans int) (result, error) {
	cfg.Endpoint = srv.Addr()
	d, err := modbus.New(cfg)
	if err != nil {
		return result{}, err
	}
	defer d.Close()
	tags := make([]plc.Tag, len(set))
	for i, a := range set {
		tags[i] = plc.Tag{Name: a.String(), Address: a.String(), Type: a.Type}
	}
	r, err := d.Prepare(tags)
	if err != nil {
		return result{}, err
	}
	out := make([]plc.Sample, len(tags))
	if err := r.Read(ctx, out); err != nil { // connect and warm up
		return result{}, err
	}
	before := srv.Requests()
	times := make([]time.Duration, scans)
	for i := range times {
		start := time.Now()
		if err := r.Read(ctx, out); err != nil {
			return result{}, err
		}
		times[i] = time.Since(start)
		for _, s := range out {
			if !s.Quality.IsGood() {
				return result{}, fmt.Errorf("%s: %v", s.Tag, s.Quality)
			}
		}
	}
	slices.Sort(times)
	return result{Requests: float64(srv.Requests()-before) / float64(scans), Median: times[scans/2]}, nil
}
