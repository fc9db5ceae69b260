package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/kiln-iot/kiln/plc/s7/internal/benchset"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func main() {
	n := flag.Int("tags", 1000, "number of tags")
	dbs := flag.Int("dbs", 10, "number of data blocks")
	pdu := flag.Int("pdu", 480, "the simulated PLC's maximum PDU size")
	scans := flag.Int("scans", 50, "scans per method")
	seed := flag.Uint64("seed", 1, "seed of the tag layout")
	flag.Parse()
	log.SetOutput(io.Discard) // gos7 logs read errors through the standard logger
	if err := run(*n, *dbs, *pdu, *scans, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "s7bench:", err)
		os.Exit(1)
	}
}

func run(n, dbs, pdu, scans int, seed uint64) error {
	tags, sizes := benchset.Tags(n, dbs, seed)
	srv, err := s7sim.New(s7sim.Config{MaxPDU: pdu, DBs: sizes})
	if err != nil {
		return err
	}
	defer srv.Close()
	res, err := benchset.Compare(context.Background(), srv, tags, scans)
	if err != nil {
		return err
	}
	fmt.Printf("%d tags over %d DBs, PDU %d, %d scans each, loopback\n\n", n, dbs, pdu, scans)
	fmt.Println("| method | round trips / scan | scan time | minimal round trips |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for _, r := range res {
		fmt.Printf("| %s | %.1f | %v | %d |\n", r.Method, r.RoundTrips, r.ScanTime.Round(1000), r.MinRoundTrips)
	}
	p, v := res[0], res[1]
	fmt.Printf("\nplanner: %.1f× fewer round trips, %.1f× faster scans, %.2f× the minimal round trips; violations of the PDU: %d\n",
		v.RoundTrips/p.RoundTrips, float64(v.ScanTime)/float64(p.ScanTime), p.RoundTrips/float64(p.MinRoundTrips), srv.Violations())
	return nil
}
