// Command supervise measures restart latency, the time from a child's
// Serve returning an error to its replacement's Serve running, for
// kiln's supervise and for github.com/thejerf/suture/v4 in the same run,
// and prints a table.
//
//	cd bench/supervise && go run . -n 20000 -rounds 5
//
// Both supervisors are configured so that the measured path is the
// immediate restart: suture's failure threshold is raised out of reach
// (its default pauses all children for 15s after 5 failures in 30s), and
// kiln's child counts every run as stable (StableAfter 1ns) with an
// intensity out of reach. Rounds alternate between the two so that
// machine noise falls on both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/kiln-iot/kiln/supervise"
)

var errFail = errors.New("bench: fail")

// flapper fails when told and reports, on each Serve, how long ago the
// previous instance failed.
type flapper struct {
	failAt  *atomic.Int64
	fail    chan struct{}
	started chan time.Duration
}

func (f flapper) Serve(ctx context.Context) error {
	if at := f.failAt.Load(); at != 0 {
		f.started <- time.Duration(time.Now().UnixNano() - at)
	} else {
		f.started <- 0
	}
	select {
	case <-f.fail:
		f.failAt.Store(time.Now().UnixNano())
		return errFail
	case <-ctx.Done():
		return nil
	}
}

func newFlapper() flapper {
	return flapper{failAt: new(atomic.Int64), fail: make(chan struct{}), started: make(chan time.Duration, 1)}
}

// measure fails the child n times and returns the restart latencies.
func measure(f flapper, n int) []time.Duration {
	<-f.started
	out := make([]time.Duration, 0, n)
	for range n {
		f.fail <- struct{}{}
		out = append(out, <-f.started)
	}
	return out
}

func runKiln(n int) ([]time.Duration, error) {
	f := newFlapper()
	s, err := supervise.New(supervise.Config{Intensity: 1 << 30, Period: time.Second, StableAfter: time.Nanosecond})
	if err != nil {
		return nil, err
	}
	err = s.Add(context.Background(), supervise.Spec{Name: "child", New: func() (supervise.Service, error) { return f, nil }})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	lat := measure(f, n)
	cancel()
	return lat, <-done
}

func runSuture(n int) ([]time.Duration, error) {
	f := newFlapper()
	s := suture.New("bench", suture.Spec{FailureThreshold: 1e12, EventHook: func(suture.Event) {}})
	s.Add(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	lat := measure(f, n)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return lat, err
	}
	return lat, nil
}

func pct(s []time.Duration, p float64) time.Duration {
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func main() {
	n := flag.Int("n", 20000, "restarts per round and supervisor")
	rounds := flag.Int("rounds", 5, "rounds, alternating between the supervisors")
	flag.Parse()

	results := map[string][]time.Duration{}
	runners := []struct {
		name string
		run  func(int) ([]time.Duration, error)
	}{{"kiln supervise", runKiln}, {"suture v4.0.6", runSuture}}
	for r := range *rounds {
		for i := range runners {
			x := runners[(r+i)%len(runners)]
			runtime.GC()
			lat, err := x.run(*n)
			if err != nil {
				fmt.Fprintln(os.Stderr, x.name+":", err)
				os.Exit(1)
			}
			results[x.name] = append(results[x.name], lat...)
		}
	}

	fmt.Printf("restart latency (Serve returns error → new Serve running), %d restarts each, %s, GOMAXPROCS=%d\n\n",
		*n**rounds, runtime.Version(), runtime.GOMAXPROCS(0))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "supervisor\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, x := range runners {
		s := results[x.name]
		slices.Sort(s)
		fmt.Fprintf(w, "%s\t%v\t%v\t%v\t%v\t%v\t\n", x.name, pct(s, .5), pct(s, .9), pct(s, .99), pct(s, .999), s[len(s)-1])
	}
	w.Flush()
}
