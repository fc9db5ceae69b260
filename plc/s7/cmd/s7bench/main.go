package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/internal/benchset"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func main() {
	n := flag.Int("tags", 1000, "number of tags")
	dbs := flag.Int("dbs", 10, "number of data blocks")
	pdu := flag.Int("pdu", 480, "the simulated PLC's maximum PDU size")
	scans := flag.Int("scans", 50, "scans per method")
	seed := flag.Uint64("seed", 1, "seed of the tag layout")
	latency := flag.Duration("latency", 0, "the simulated PLC's time to answer each job (a real CPU: some ms of its cycle)")
	jobs := flag.Int("jobs", 1, "jobs the simulated PLC lets a client keep in flight (S7-1500: 3)")
	flag.Parse()
	log.SetOutput(io.Discard) // gos7 logs read errors through the standard logger
	if err := run(*n, *dbs, *pdu, *scans, *seed, *latency, *jobs); err != nil {
		fmt.Fprintln(os.Stderr, "s7bench:", err)
		os.Exit(1)
	}
}

func run(n, dbs, pdu, scans int, seed uint64, latency time.Duration, jobs int) error {
	tags, sizes := s7sim.ScatteredTags(n, dbs, seed)
	srv, err := s7sim.New(s7sim.Config{MaxPDU: pdu, DBs: sizes, MaxJobs: jobs})
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.SetLatency(latency)
	ctx := context.Background()
	fmt.Printf("%d tags over %d DBs, PDU %d, %d scans each, loopback, %v per job, %d jobs granted\n\n", n, dbs, pdu, scans, latency, jobs)
	fmt.Println("| method | round trips / scan | scan time | minimal round trips |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	planned, addrs, err := benchset.Planner(ctx, srv, tags, scans, s7.Config{})
	if err != nil {
		return err
	}
	planned.Method = fmt.Sprintf("planner, %d jobs in flight", jobs)
	row(planned)
	if jobs > 1 {
		// The same driver against a CPU that grants one job at a time.
		one, err := s7sim.New(s7sim.Config{MaxPDU: pdu, DBs: sizes})
		if err != nil {
			return err
		}
		defer one.Close()
		one.SetLatency(latency)
		r, _, err := benchset.Planner(ctx, one, tags, scans, s7.Config{})
		if err != nil {
			return err
		}
		r.Method = "planner, CPU granting 1 job"
		row(r)
	}
	if latency > 0 {
		fmt.Printf("\nnaive way skipped: %d round trips of %v each per scan\n", n, latency)
		return nil
	}
	naive, err := benchset.Naive(srv, addrs, scans)
	if err != nil {
		return err
	}
	naive.MinRoundTrips = planned.MinRoundTrips
	row(naive)
	fmt.Printf("\nplanner: %.1f× fewer round trips, %.1f× faster scans, %.2f× the minimal round trips; violations of the PDU: %d\n",
		naive.RoundTrips/planned.RoundTrips, float64(naive.ScanTime)/float64(planned.ScanTime), planned.RoundTrips/float64(planned.MinRoundTrips), srv.Violations())
	return nil
}

func row(r benchset.Result) {
	fmt.Printf("| %s | %.1f | %v | %d |\n", r.Method, r.RoundTrips, r.ScanTime.Round(1000), r.MinRoundTrips)
}
