package supervise_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/kiln-iot/kiln/supervise"
)

// A child that fails once is made afresh and restarted at once.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	starts := 0
	sup, err := supervise.New(supervise.Config{Name: "root"}, supervise.WithEventHook(func(e supervise.Event) {
		fmt.Println(e)
		if e.Kind == supervise.EventRestarted {
			cancel() // seen enough: stop the tree
		}
	}))
	if err != nil {
		panic(err)
	}
	err = sup.Add(ctx, supervise.Spec{Name: "plc", New: func() (supervise.Service, error) {
		starts++
		first := starts == 1
		return supervise.ServiceFunc(func(ctx context.Context) error {
			if first {
				return errors.New("connection refused")
			}
			<-ctx.Done()
			return nil
		}), nil
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println("Serve:", sup.Serve(ctx))
	// Output:
	// root/plc started
	// root/plc exited: connection refused
	// root/plc restarted restarts=1
	// Serve: <nil>
}

// The AI-monitor pattern: each module runs under a supervisor of its own,
// added to the monitor as a Temporary child. A module that keeps failing
// exceeds its own intensity; its supervisor stops it and returns an
// *EscalationError, and the monitor, which never restarts a Temporary
// child, reports it with EventFailed and keeps it down (state Failed in
// Status) while the other children run on. Restart brings it back.
func Example_failedModule() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan supervise.Event, 1)
	monitor, err := supervise.New(supervise.Config{Name: "monitor"}, supervise.WithEventHook(func(e supervise.Event) {
		if e.Kind == supervise.EventFailed {
			failed <- e
		}
	}))
	if err != nil {
		panic(err)
	}
	module := func() (supervise.Service, error) {
		m, err := supervise.New(supervise.Config{Intensity: 2, Period: time.Minute})
		if err != nil {
			return nil, err
		}
		return m, m.Add(ctx, supervise.Spec{Name: "inference", New: func() (supervise.Service, error) {
			return supervise.ServiceFunc(func(context.Context) error { return errors.New("model file corrupt") }), nil
		}})
	}
	if err := monitor.Add(ctx, supervise.Spec{Name: "vision", Restart: supervise.Temporary, New: module}); err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- monitor.Serve(ctx) }()

	e := <-failed
	var esc *supervise.EscalationError
	if errors.As(e.Err, &esc) {
		fmt.Printf("%s/%s declared failed: %s gave up after %d restarts in %v\n", e.Supervisor, e.Child, esc.Supervisor, esc.Restarts, esc.Period)
	}
	fmt.Println("state:", monitor.Status().Children[0].State)
	cancel()
	fmt.Println("Serve:", <-done)
	// Output:
	// monitor/vision declared failed: monitor/vision gave up after 2 restarts in 1m0s
	// state: failed
	// Serve: <nil>
}

// Status marshals to JSON for an HTTP endpoint.
func ExampleSupervisor_Status() {
	sup, err := supervise.New(supervise.Config{Name: "edge", Strategy: supervise.RestForOne})
	if err != nil {
		panic(err)
	}
	noop := func() (supervise.Service, error) {
		return supervise.ServiceFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }), nil
	}
	_ = sup.Add(context.Background(), supervise.Spec{Name: "spool", New: noop})
	_ = sup.Add(context.Background(), supervise.Spec{Name: "forwarder", New: noop, Restart: supervise.Transient})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(sup.Status())
	// Output:
	// {
	//   "name": "edge",
	//   "strategy": "rest_for_one",
	//   "state": "stopped",
	//   "children": [
	//     {
	//       "name": "spool",
	//       "state": "stopped",
	//       "restart": "permanent",
	//       "restarts": 0
	//     },
	//     {
	//       "name": "forwarder",
	//       "state": "stopped",
	//       "restart": "transient",
	//       "restarts": 0
	//     }
	//   ]
	// }
}

// An AI module written in Python runs as an external process with probes:
// it must answer its health endpoint within a minute of starting, is
// restarted when it stops answering, and must beat its watchdog.
func ExampleNewProcess() {
	spec := supervise.Spec{
		Name:     "vision",
		Shutdown: 15 * time.Second, // above StopTimeout: SIGTERM, then SIGKILL
		New: func() (supervise.Service, error) {
			return supervise.NewProcess(supervise.ProcessConfig{
				Path:        "python3",
				Args:        []string{"-m", "vision.serve"},
				Env:         []string{"MODEL=/models/vision.onnx"},
				Dir:         "/opt/ai",
				StopTimeout: 10 * time.Second,
			})
		},
		Health: supervise.Health{
			Startup:  &supervise.Probe{Period: 5 * time.Second, FailureThreshold: 12, Check: httpOK("http://127.0.0.1:8081/healthz")},
			Liveness: &supervise.Probe{Period: 10 * time.Second, Check: httpOK("http://127.0.0.1:8081/healthz")},
		},
	}
	_ = spec
}

// httpOK is a probe check: GET url must answer 200.
func httpOK(url string) func(context.Context, supervise.Service) error {
	return func(ctx context.Context, _ supervise.Service) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
}

// A service kiln does not own (a historian container) is probed over HTTP
// and restarted through a hook when it stops answering.
func ExampleNewHTTPCheck() {
	cfg := supervise.HTTPCheckConfig{URL: "http://127.0.0.1:8086/health", Period: 10 * time.Second, FailureThreshold: 3}
	restart := func(ctx context.Context) error {
		return exec.CommandContext(ctx, "systemctl", "restart", "historian").Run()
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	_ = supervise.Spec{Name: "historian-check", New: func() (supervise.Service, error) {
		return supervise.NewHTTPCheck(cfg, restart)
	}}
}
