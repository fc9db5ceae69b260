// Command s7comm measures kiln's S7 driver against Telegraf's s7comm
// input (github.com/influxdata/telegraf/plugins/inputs/s7comm) in the
// same run: both read the same 1000 scattered tags from the same s7sim,
// one connection each, and it prints a table of requests and time per
// scan.
//
//	cd bench/s7comm && go run . -latency 2ms -jobs 3 -scans 20 -rounds 3
//
// -latency is the simulated CPU's time to answer each job and -jobs the
// jobs it grants in flight (an S7-1500: a few ms and 3). kiln keeps the
// granted jobs in flight; Telegraf sends one request of up to 20 items
// (its pdu_size default) at a time. Rounds alternate between the clients
// so that machine noise falls on both; the table shows the median.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/inputs/s7comm"
	"github.com/influxdata/toml"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

func main() {
	n := flag.Int("tags", 1000, "number of tags")
	dbs := flag.Int("dbs", 10, "number of data blocks")
	latency := flag.Duration("latency", 2*time.Millisecond, "the simulated CPU's time to answer each job")
	jobs := flag.Int("jobs", 3, "jobs the simulated CPU grants in flight")
	scans := flag.Int("scans", 20, "scans per client and round")
	rounds := flag.Int("rounds", 3, "rounds, alternating the clients")
	flag.Parse()
	if err := run(*n, *dbs, *latency, *jobs, *scans, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "s7comm:", err)
		os.Exit(1)
	}
}

// client is one S7 client under test.
type client struct {
	name  string
	scan  func() error
	close func()
	times []time.Duration
	reqs  float64
}

func run(n, dbs int, latency time.Duration, jobs, scans, rounds int) error {
	tags, sizes := s7sim.ScatteredTags(n, dbs, 1)
	srv, err := s7sim.New(s7sim.Config{DBs: sizes, MaxJobs: jobs})
	if err != nil {
		return err
	}
	defer srv.Close()
	one, err := s7sim.New(s7sim.Config{DBs: sizes})
	if err != nil {
		return err
	}
	defer one.Close()
	srv.SetLatency(latency)
	one.SetLatency(latency)

	kiln, err := kilnClient("kiln", srv, tags)
	if err != nil {
		return err
	}
	defer kiln.close()
	kilnOne, err := kilnClient("kiln, CPU granting 1 job", one, tags)
	if err != nil {
		return err
	}
	defer kilnOne.close()
	tg, err := telegrafClient(srv, tags)
	if err != nil {
		return fmt.Errorf("telegraf: %w", err)
	}
	defer tg.close()

	clients := []*client{kiln, tg, kilnOne}
	for range rounds {
		for _, c := range clients {
			s := srvOf(c, srv, one)
			before, start := s.Requests(), time.Now()
			for range scans {
				if err := c.scan(); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
			}
			c.times = append(c.times, time.Since(start)/time.Duration(scans))
			c.reqs = float64(s.Requests()-before) / float64(scans)
		}
	}
	var addrs []s7.Address
	for _, t := range tags {
		a, err := s7.ParseAddress(t.Address, t.Type)
		if err != nil {
			return err
		}
		addrs = append(addrs, a)
	}
	fmt.Printf("%d tags over %d DBs, s7sim on loopback answering each job after %v, %d jobs granted (fewest requests: %d); one connection each; %d scans × %d rounds, median\n\n",
		n, dbs, latency, jobs, s7.MinRoundTrips(addrs, 480), scans, rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(w, "client\trequests / scan\tscan time\tvs Telegraf\t")
	ref := median(tg.times)
	for _, c := range clients {
		m := median(c.times)
		fmt.Fprintf(w, "%s\t%.1f\t%v\t%.1f×\t\n", c.name, c.reqs, m.Round(10*time.Microsecond), float64(ref)/float64(m))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if v := srv.Violations() + one.Violations(); v > 0 {
		return fmt.Errorf("%d requests broke the simulated CPU's limits", v)
	}
	return nil
}

func srvOf(c *client, srv, one *s7sim.Server) *s7sim.Server {
	if strings.Contains(c.name, "1 job") {
		return one
	}
	return srv
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// kilnClient reads tags with kiln's driver over one connection.
func kilnClient(name string, srv *s7sim.Server, tags []plc.Tag) (*client, error) {
	d, err := s7.New(s7.Config{Endpoint: srv.Addr()})
	if err != nil {
		return nil, err
	}
	r, err := d.Prepare(tags)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	out := make([]plc.Sample, len(tags))
	scan := func() error {
		if err := r.Read(context.Background(), out); err != nil {
			return err
		}
		for i := range out {
			if !out[i].Quality.IsGood() {
				return fmt.Errorf("tag %s: %v", tags[i].Address, out[i].Quality)
			}
		}
		return nil
	}
	if err := scan(); err != nil { // connect and plan
		_ = d.Close()
		return nil, err
	}
	return &client{name: name, scan: scan, close: func() { _ = d.Close() }}, nil
}

// telegrafClient reads tags with Telegraf's s7comm input, configured
// from TOML as telegraf.conf would configure it.
func telegrafClient(srv *s7sim.Server, tags []plc.Tag) (*client, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "[[metric]]\nname = \"bench\"\nfields = [\n")
	for _, t := range tags {
		addr, err := telegrafAddress(t)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  {name = %q, address = %q},\n", t.Name, addr)
	}
	b.WriteString("]\n")
	in := inputs.Inputs["s7comm"]().(*s7comm.S7comm)
	if err := toml.Unmarshal([]byte(b.String()), in); err != nil {
		return nil, err
	}
	in.Server, in.Rack, in.Slot = srv.Addr(), 0, 1
	in.Timeout = config.Duration(10 * time.Second)
	in.Log = quiet{}
	if err := in.Init(); err != nil {
		return nil, err
	}
	acc := &accumulator{}
	if err := in.Start(acc); err != nil {
		return nil, err
	}
	scan := func() error {
		acc.fields, acc.err = 0, nil
		if err := in.Gather(acc); err != nil {
			return err
		}
		if acc.err != nil {
			return acc.err
		}
		if acc.fields != len(tags) {
			return fmt.Errorf("gathered %d fields of %d", acc.fields, len(tags))
		}
		return nil
	}
	if err := scan(); err != nil {
		in.Stop()
		return nil, err
	}
	return &client{name: "Telegraf s7comm", scan: scan, close: in.Stop}, nil
}

// telegrafAddress writes a tag's address in Telegraf's syntax:
// DB1.X0.3, DB1.B4, DB1.W6, DB1.I8, DB1.DI10, DB1.DW14, DB1.R18,
// DB1.LR22, DB1.S30.16.
func telegrafAddress(t plc.Tag) (string, error) {
	a, err := s7.ParseAddress(t.Address, t.Type)
	if err != nil {
		return "", err
	}
	if a.Area != s7.AreaDB {
		return "", errors.New("only DB addresses")
	}
	db := fmt.Sprintf("DB%d.", a.DB)
	switch t.Type.Kind {
	case plc.Bool:
		return fmt.Sprintf("%sX%d.%d", db, a.Offset, a.Bit), nil
	case plc.Byte:
		return fmt.Sprintf("%sB%d", db, a.Offset), nil
	case plc.Word:
		return fmt.Sprintf("%sW%d", db, a.Offset), nil
	case plc.Int:
		return fmt.Sprintf("%sI%d", db, a.Offset), nil
	case plc.DInt:
		return fmt.Sprintf("%sDI%d", db, a.Offset), nil
	case plc.DWord:
		return fmt.Sprintf("%sDW%d", db, a.Offset), nil
	case plc.Real:
		return fmt.Sprintf("%sR%d", db, a.Offset), nil
	case plc.LReal:
		return fmt.Sprintf("%sLR%d", db, a.Offset), nil
	case plc.String:
		return fmt.Sprintf("%sS%d.%d", db, a.Offset, t.Type.Len), nil
	}
	return "", fmt.Errorf("type %v has no Telegraf address", t.Type)
}

// accumulator counts what Gather delivers.
type accumulator struct {
	telegraf.Accumulator // the methods Gather does not call
	fields               int
	err                  error
}

func (a *accumulator) AddMetric(m telegraf.Metric) { a.fields += len(m.FieldList()) }
func (a *accumulator) AddError(err error)          { a.err = errors.Join(a.err, err) }

// quiet is a telegraf.Logger that logs nothing below errors.
type quiet struct{}

func (quiet) Level() telegraf.LogLevel       { return telegraf.Error }
func (quiet) AddAttribute(string, any)       {}
func (quiet) Errorf(format string, a ...any) { fmt.Fprintf(os.Stderr, "telegraf: "+format+"\n", a...) }
func (quiet) Error(a ...any)                 { fmt.Fprintln(os.Stderr, append([]any{"telegraf:"}, a...)...) }
func (quiet) Warnf(string, ...any)           {}
func (quiet) Warn(...any)                    {}
func (quiet) Infof(string, ...any)           {}
func (quiet) Info(...any)                    {}
func (quiet) Debugf(string, ...any)          {}
func (quiet) Debug(...any)                   {}
func (quiet) Tracef(string, ...any)          {}
func (quiet) Trace(...any)                   {}
