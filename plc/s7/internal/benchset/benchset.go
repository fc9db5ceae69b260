package benchset

import (
	"context"
	"fmt"
	"time"

	"github.com/robinson/gos7"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// Result is one method's measurement.
type Result struct {
	Method        string
	RoundTrips    float64       // requests per scan, counted by the server
	ScanTime      time.Duration // mean time of one scan
	MinRoundTrips int           // the fewest requests possible for the tag set
}

// Compare scans tags scans times with the planning driver and with the
// naive way (one gos7 AGReadDB per tag) against srv, and returns both
// results.
func Compare(ctx context.Context, srv *s7sim.Server, tags []plc.Tag, scans int) ([]Result, error) {
	planned, addrs, err := Planner(ctx, srv, tags, scans, s7.Config{})
	if err != nil {
		return nil, err
	}
	naive, err := Naive(srv, addrs, scans)
	if err != nil {
		return nil, err
	}
	naive.MinRoundTrips = planned.MinRoundTrips
	return []Result{planned, naive}, nil
}

// Planner scans tags scans times with the driver configured by cfg over
// one connection (cfg.Connections as given) and returns the result and
// the tags' parsed addresses.
func Planner(ctx context.Context, srv *s7sim.Server, tags []plc.Tag, scans int, cfg s7.Config) (Result, []s7.Address, error) {
	cfg.Endpoint = srv.Addr()
	d, err := s7.New(cfg)
	if err != nil {
		return Result{}, nil, err
	}
	defer d.Close()
	r, err := d.Prepare(tags)
	if err != nil {
		return Result{}, nil, err
	}
	out := make([]plc.Sample, len(tags))
	if err := r.Read(ctx, out); err != nil { // connect and plan
		return Result{}, nil, err
	}
	addrs := make([]s7.Address, len(tags))
	for i, t := range tags {
		if !out[i].Quality.IsGood() {
			return Result{}, nil, fmt.Errorf("benchset: %s: %v", t.Address, out[i].Quality)
		}
		if addrs[i], err = s7.ParseAddress(t.Address, t.Type); err != nil {
			return Result{}, nil, err
		}
	}
	minimal := s7.MinRoundTrips(addrs, d.PDUSize())

	before, start := srv.Requests(), time.Now()
	for range scans {
		if err := r.Read(ctx, out); err != nil {
			return Result{}, nil, err
		}
	}
	return Result{Method: "planner", ScanTime: time.Since(start) / time.Duration(scans), MinRoundTrips: minimal,
		RoundTrips: float64(srv.Requests()-before) / float64(scans)}, addrs, nil
}

// Naive reads each address with its own gos7 AGReadDB, scans times.
func Naive(srv *s7sim.Server, addrs []s7.Address, scans int) (Result, error) {
	h := gos7.NewTCPClientHandler(srv.Addr(), 0, 1)
	h.IdleTimeout = 0
	if err := h.Connect(); err != nil {
		return Result{}, err
	}
	defer h.Close()
	c := gos7.NewClient(h)
	buf := make([]byte, 256)
	before, start := srv.Requests(), time.Now()
	for range scans {
		for _, a := range addrs {
			if err := c.AGReadDB(a.DB, a.Offset, a.Size(), buf); err != nil {
				return Result{}, fmt.Errorf("benchset: naive read of %s: %w", a, err)
			}
		}
	}
	return Result{Method: "naive (AGReadDB per tag)", ScanTime: time.Since(start) / time.Duration(scans),
		RoundTrips: float64(srv.Requests()-before) / float64(scans)}, nil
}
