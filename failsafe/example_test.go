package failsafe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/failsafe"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// Configuration errors name the file, the line and the field.
func ExampleParse() {
	_, err := failsafe.Parse("ai-monitor.yaml", []byte(`modules:
  - name: vision
    service: {url: "http://10.0.0.7:8080/health"}
    heartbeat: {source: tag}
`))
	for _, e := range config.List(err) {
		fmt.Println(e)
	}
	// Output:
	// ai-monitor.yaml:4: modules[0].heartbeat.tag: missing for source tag
	// ai-monitor.yaml:2: modules[0].fail_safe.write: no fail-safe tags
}

// An HTTP service the monitor only probes stops answering: its liveness
// probe fails and the monitor writes the fail-safe plan to the PLC.
func Example() {
	plant, err := s7sim.New(s7sim.Config{}) // a simulated S7 PLC on 127.0.0.1
	if err != nil {
		panic(err)
	}
	defer plant.Close()
	db := &plc.PointDB{} // as plc.Load reads it from a file
	if err := db.AddYAML("points.yaml", []byte(`devices: [{name: plc1, driver: s7, endpoint: "`+plant.Addr()+`"}]
tags: [{name: AI.Vision.Enable, device: plc1, address: DB10.DBX0.0, type: BOOL, access: rw}]
`)); err != nil {
		panic(err)
	}
	enable, _ := s7.ParseAddress("DB10.DBX0.0", plc.TypeBool)
	_ = plant.Store(enable, plc.BoolValue(true)) // the module has control
	drv, _ := s7.New(s7.Config{Endpoint: plant.Addr()})
	defer drv.Close()

	var status atomic.Int32
	status.Store(http.StatusOK)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer svc.Close()

	cfg, err := failsafe.Parse("ai-monitor.yaml", []byte(`modules:
  - name: vision
    service: {url: "`+svc.URL+`"}
    liveness: {period: 1s, failure_threshold: 1}
    fail_safe:
      write: [{tag: AI.Vision.Enable, value: false}]
`))
	if err != nil {
		panic(err)
	}
	clk := clock.NewFake(time.Now())
	handedOver := make(chan struct{})
	mon, err := failsafe.New(cfg, db, map[string]plc.Driver{"plc1": drv}, failsafe.WithClock(clk),
		failsafe.WithEventHook(func(e failsafe.Event) {
			fmt.Println(e.Module, e.Kind, e.State)
			switch e.Kind {
			case failsafe.EventUnhealthy:
				status.Store(http.StatusOK) // repaired, for the restarted instance
			case failsafe.EventHandover:
				close(handedOver)
			}
		}))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mon.Serve(ctx) }()

	status.Store(http.StatusBadGateway) // the service breaks
	for {
		clk.Advance(time.Second) // the next probe
		select {
		case <-handedOver:
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	v, _ := plant.Load(enable)
	fmt.Println("AI.Vision.Enable:", v)
	cancel()
	fmt.Println("Serve:", <-done)
	// Output:
	// vision unhealthy starting
	// vision handover fail_safe
	// AI.Vision.Enable: false
	// Serve: <nil>
}
