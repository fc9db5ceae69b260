// Command modbus races kiln's modbus driver against Telegraf's modbus
// input (github.com/influxdata/telegraf/plugins/inputs/modbus) on the
// same scattered register set (modbussim.ScatteredRegisters: by default
// 1000 values over 5 unit ids) and the same simulated server (modbussim
// on loopback, with a latency per request like a real device's), once
// against a server that answers one transaction at a time and once
// against one that works on several at once. It prints the requests per
// scan, the fewest possible and the median scan time of each:
//
//	cd bench/modbus && go run . [-tags 1000] [-units 5] [-latency 1ms] [-scans 20] [-inflight 8]
//
// It is a module of its own so that Telegraf stays out of kiln's go.mod.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"
	_ "github.com/influxdata/telegraf/plugins/inputs/modbus"
	"github.com/influxdata/telegraf/testutil"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/modbus/modbussim"
)

func main() {
	n := flag.Int("tags", 1000, "number of register values")
	units := flag.Int("units", 5, "number of unit ids")
	latency := flag.Duration("latency", time.Millisecond, "the simulated device's time to answer each request")
	scans := flag.Int("scans", 20, "scans per row")
	inFlight := flag.Int("inflight", 8, "transactions the parallel server works on at once, and the driver keeps in flight")
	seed := flag.Uint64("seed", 1, "seed of the register set")
	flag.Parse()
	if err := run(*n, *units, *latency, *scans, *inFlight, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "bench/modbus:", err)
		os.Exit(1)
	}
}

type result struct {
	requests float64       // per scan
	median   time.Duration // scan time
}

// scanner is one client under test: it reads the whole set once.
type scanner interface {
	scan(ctx context.Context) error
	close()
}

func run(n, units int, latency time.Duration, scans, inFlight int, seed uint64) error {
	set := modbussim.ScatteredRegisters(n, units, seed)
	fewest := modbus.MinRequests(set, 0, 0)
	fmt.Printf("%d register values over %d units, %v latency per request, %d scans each, loopback\n\n", n, units, latency, scans)
	fmt.Println("| server answers | client | requests / scan | fewest possible | scan time (median) |")
	fmt.Println("| --- | --- | ---: | ---: | ---: |")
	type client struct {
		name string
		open func(addr string) (scanner, error)
	}
	for _, serverInFlight := range []int{1, inFlight} {
		clients := []client{
			{"kiln, in_flight 1", func(addr string) (scanner, error) { return openKiln(addr, set, 1) }},
			{"Telegraf, optimization none", func(addr string) (scanner, error) { return openTelegraf(addr, set, "none") }},
			{"Telegraf, optimization shrink", func(addr string) (scanner, error) { return openTelegraf(addr, set, "shrink") }},
			{"Telegraf, optimization max_insert (fill 125)", func(addr string) (scanner, error) { return openTelegraf(addr, set, "max_insert") }},
		}
		if serverInFlight > 1 {
			clients = append(clients, client{fmt.Sprintf("kiln, in_flight %d", inFlight), func(addr string) (scanner, error) { return openKiln(addr, set, inFlight) }})
		}
		for _, c := range clients {
			res, err := measure(set, seed, serverInFlight, latency, scans, c.open)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			fmt.Printf("| %d at a time | %s | %.1f | %d | %v |\n", serverInFlight, c.name, res.requests, fewest, res.median.Round(time.Microsecond))
		}
	}
	return nil
}

// measure starts a fresh server, scans once to connect, then scans
// scans times.
func measure(set []modbus.Address, seed uint64, inFlight int, latency time.Duration, scans int, open func(string) (scanner, error)) (result, error) {
	srv, err := modbussim.New(modbussim.Config{InFlight: inFlight})
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	if err := srv.Fill(set, seed); err != nil {
		return result{}, err
	}
	srv.SetLatency(latency)
	s, err := open(srv.Addr())
	if err != nil {
		return result{}, err
	}
	defer s.close()
	ctx := context.Background()
	if err := s.scan(ctx); err != nil {
		return result{}, err
	}
	before := srv.Requests()
	times := make([]time.Duration, scans)
	for i := range times {
		start := time.Now()
		if err := s.scan(ctx); err != nil {
			return result{}, err
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return result{requests: float64(srv.Requests()-before) / float64(scans), median: times[scans/2]}, nil
}

type kiln struct {
	d   *modbus.Driver
	r   plc.Reader
	out []plc.Sample
}

func openKiln(addr string, set []modbus.Address, inFlight int) (scanner, error) {
	d, err := modbus.New(modbus.Config{Endpoint: addr, InFlight: inFlight, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	tags := make([]plc.Tag, len(set))
	for i, a := range set {
		tags[i] = plc.Tag{Name: a.String(), Address: a.String(), Type: a.Type}
	}
	r, err := d.Prepare(tags)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	return &kiln{d: d, r: r, out: make([]plc.Sample, len(tags))}, nil
}

func (k *kiln) scan(ctx context.Context) error {
	if err := k.r.Read(ctx, k.out); err != nil {
		return err
	}
	for _, s := range k.out {
		if !s.Quality.IsGood() {
			return fmt.Errorf("%s: %v", s.Tag, s.Quality)
		}
	}
	return nil
}

func (k *kiln) close() { _ = k.d.Close() }

type telegraf struct {
	in  *config.Config
	n   int
	acc *testutil.Accumulator
}

// openTelegraf configures Telegraf's modbus input as a user would, in
// TOML: one request per unit ("configuration_type = request"), every
// register a field of its type, with the given optimization.
func openTelegraf(addr string, set []modbus.Address, optimization string) (scanner, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[[inputs.modbus]]\nname = \"bench\"\ncontroller = \"tcp://%s\"\ntimeout = \"5s\"\nconfiguration_type = \"request\"\n", addr)
	byUnit := map[uint8][]modbus.Address{}
	var order []uint8
	for _, a := range set {
		if _, ok := byUnit[a.Unit]; !ok {
			order = append(order, a.Unit)
		}
		byUnit[a.Unit] = append(byUnit[a.Unit], a)
	}
	for _, u := range order {
		fmt.Fprintf(&b, "[[inputs.modbus.request]]\nslave_id = %d\nbyte_order = \"ABCD\"\nregister = \"holding\"\noptimization = %q\n", u, optimization)
		if optimization == "max_insert" {
			b.WriteString("optimization_max_register_fill = 125\n")
		}
		b.WriteString("fields = [\n")
		for _, a := range byUnit[u] {
			typ := map[plc.Kind]string{plc.UInt: "UINT16", plc.Real: "FLOAT32", plc.DInt: "INT32"}[a.Type.Kind]
			fmt.Fprintf(&b, "  { address = %d, name = \"r%d\", type = %q },\n", a.Register, a.Register, typ)
		}
		b.WriteString("]\n")
	}
	c := config.NewConfig()
	if err := c.LoadConfigData([]byte(b.String()), "bench.conf"); err != nil {
		return nil, err
	}
	if len(c.Inputs) != 1 {
		return nil, fmt.Errorf("%d inputs configured", len(c.Inputs))
	}
	ri := c.Inputs[0]
	if err := ri.Init(); err != nil {
		return nil, err
	}
	return &telegraf{in: c, n: len(set), acc: &testutil.Accumulator{}}, nil
}

func (t *telegraf) scan(context.Context) error {
	t.acc.ClearMetrics()
	if err := t.in.Inputs[0].Input.Gather(t.acc); err != nil {
		return err
	}
	if len(t.acc.Errors) > 0 {
		return t.acc.Errors[0]
	}
	fields := 0
	for _, m := range t.acc.GetTelegrafMetrics() {
		fields += len(m.FieldList())
	}
	if fields != t.n {
		return fmt.Errorf("gathered %d fields, want %d", fields, t.n)
	}
	return nil
}

func (t *telegraf) close() {
	if s, ok := t.in.Inputs[0].Input.(interface{ Stop() }); ok {
		s.Stop()
	}
}
