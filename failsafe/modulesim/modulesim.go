package modulesim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
)

// Main runs the module with command-line args (without the program name)
// until SIGTERM or SIGINT, and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-module", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("plc", "", "S7 endpoint of the PLC (host:port)")
	hbAddr := fs.String("heartbeat", "", "S7 address of the heartbeat counter (DINT)")
	enAddr := fs.String("enable", "", "S7 address of the module's enable bit (BOOL)")
	spAddr := fs.String("setpoint", "", "S7 address of the setpoint the module writes (REAL)")
	base := fs.Float64("base", 850, "setpoint around which the module optimizes")
	amp := fs.Float64("amp", 4, "amplitude of the setpoint's variation")
	period := fs.Duration("period", 100*time.Millisecond, "cycle time")
	health := fs.String("health", "", "listen address of the /healthz endpoint (none when empty)")
	faultFile := fs.String("fault-file", "", "file whose content (crash, hang, bad) injects a fault")
	flaky := fs.Bool("flaky", false, "crash or hang at random every 5 to 20 s")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of -flaky")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" || *hbAddr == "" {
		fmt.Fprintln(stderr, "demo-module: -plc and -heartbeat are required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	drv, err := s7.New(s7.Config{Endpoint: *endpoint})
	if err != nil {
		fmt.Fprintln(stderr, "demo-module:", err)
		return 1
	}
	defer drv.Close()
	hb := plc.Tag{Name: "heartbeat", Address: *hbAddr, Type: mustType("DINT")}
	var enable *plc.Tag
	var reader plc.Reader
	if *enAddr != "" {
		enable = &plc.Tag{Name: "enable", Address: *enAddr, Type: mustType("BOOL")}
		if reader, err = drv.Prepare([]plc.Tag{*enable}); err != nil {
			fmt.Fprintln(stderr, "demo-module:", err)
			return 1
		}
	}
	var sp *plc.Tag
	if *spAddr != "" {
		sp = &plc.Tag{Name: "setpoint", Address: *spAddr, Type: mustType("REAL")}
	}

	var hung atomic.Bool
	if *health != "" {
		ln, err := net.Listen("tcp", *health)
		if err != nil {
			fmt.Fprintln(stderr, "demo-module:", err)
			return 1
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if hung.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}

	rnd := rand.New(rand.NewPCG(*seed, 1))
	var faultAt time.Time
	fault := ""
	if *flaky {
		faultAt = time.Now().Add(5*time.Second + time.Duration(rnd.Int64N(int64(15*time.Second))))
		fault = "crash"
		if rnd.IntN(2) == 0 {
			fault = "hang"
		}
	}
	fmt.Fprintf(stdout, "demo module up (pid %d)\n", os.Getpid())
	t := time.NewTicker(*period)
	defer t.Stop()
	buf := make([]plc.Sample, 1)
	var count int64
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "demo module stopping")
			return 0
		case <-t.C:
		}
		f := readFault(*faultFile)
		if f == "" && !faultAt.IsZero() && time.Now().After(faultAt) {
			f = fault
		}
		switch f {
		case "crash":
			fmt.Fprintln(stderr, "demo module: simulated crash")
			return 3
		case "hang":
			if !hung.Swap(true) {
				fmt.Fprintln(stderr, "demo module: simulated hang (no more heartbeats)")
			}
			continue
		}
		count++
		items := []plc.WriteItem{{Tag: hb, Value: plc.IntValue(plc.DInt, count)}}
		enabled := enable == nil
		if reader != nil {
			if err := reader.Read(ctx, buf); err == nil && buf[0].Quality.IsGood() {
				enabled = buf[0].Value.Bool()
			}
		}
		if sp != nil && enabled {
			v := *base + *amp*math.Sin(time.Since(start).Seconds()/5)
			if f == "bad" {
				v = *base + 10000
			}
			items = append(items, plc.WriteItem{Tag: *sp, Value: plc.FloatValue(plc.Real, v)})
		}
		for _, err := range drv.Write(ctx, items) {
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintln(stderr, "demo module: write:", err)
				break
			}
		}
	}
}

func readFault(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func mustType(s string) plc.DataType {
	t, err := plc.ParseDataType(s)
	if err != nil {
		panic(err) // constant names
	}
	return t
}
