package plc_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

func ExampleParseValue() {
	v, err := plc.ParseValue("0x7FFF", plc.TypeInt)
	fmt.Println(v.Kind(), v, err)
	_, err = plc.ParseValue("40000", plc.TypeInt)
	fmt.Println(err)
	// Output:
	// INT 32767 <nil>
	// plc: cannot convert STRING 40000 to INT: out of range
}

func ExampleTag_ToEngineering() {
	// A 4-20 mA temperature input on an S7 analog card: 0..27648 raw
	// is 0..1200 °C.
	tag := plc.Tag{Name: "Kiln1.Temp", Type: plc.TypeInt,
		Scaling: &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}}
	fmt.Println(tag.ToEngineering(plc.IntValue(plc.Int, 20736)))
	raw, err := tag.ToRaw(plc.FloatValue(plc.LReal, 850))
	fmt.Println(raw.Kind(), raw, err)
	// Output:
	// 900
	// INT 19584 <nil>
}

func ExampleLoad() {
	plctest.Register()
	db, err := plc.Load("testdata/plant.yaml", "testdata/tags.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	t, _ := db.Tag("Kiln1.Zone2.Temp")
	fmt.Printf("%d tags; %s is %v at %s, deadband %g %s\n", len(db.Tags), t.Name, t.Type, t.Address, t.Band(), t.Unit)
	// Output:
	// 7 tags; Kiln1.Zone2.Temp is INT at DB1.DBW6, deadband 12 °C
}

func ExamplePointDB_Validate() {
	db := &plc.PointDB{Tags: []plc.Tag{{Name: "T", Device: "kiln9", Address: "MW0", Type: plc.TypeBool,
		Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 1}}}}
	for _, e := range config.List(db.Validate()) {
		fmt.Println(e)
	}
	// Output:
	// device: tag "T": unknown device "kiln9"
	// deadband: tag "T": deadband on a BOOL tag (every change of it is reported)
}

func ExamplePoller() {
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "kiln1", Driver: plctest.DriverName}},
		Groups:  []plc.ScanGroup{{Name: "fast", Rate: plc.MinRate}},
		Tags: []plc.Tag{
			{Name: "Kiln1.Temp", Device: "kiln1", Address: "DB1.DBW4", Type: plc.TypeInt, Group: "fast",
				Scaling: &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}},
			{Name: "Kiln1.Running", Device: "kiln1", Address: "DB1.DBX0.0", Type: plc.TypeBool, Group: "fast"},
		},
	}
	drv := plctest.New()
	drv.Set("DB1.DBW4", plc.IntValue(plc.Int, 20736))
	drv.Set("DB1.DBX0.0", plc.BoolValue(true))

	ctx, stop := context.WithCancel(context.Background())
	sink := plc.SinkFunc(func(_ context.Context, batch []plc.Sample) error {
		for _, s := range batch {
			fmt.Println(s.Tag, s.Value, s.Quality)
		}
		stop() // one batch is enough for the example
		return nil
	})
	p, err := plc.NewPoller(db, map[string]plc.Driver{"kiln1": drv}, sink)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.Serve(ctx)
	fmt.Println(errors.Is(err, context.Canceled))
	latest, _ := p.Latest("Kiln1.Temp")
	fmt.Println("latest:", latest.Value)
	// Output:
	// Kiln1.Temp 900 good
	// Kiln1.Running true good
	// true
	// latest: 900
}

func ExampleWriter() {
	lo, hi := 200.0, 1100.0
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "kiln1", Driver: plctest.DriverName}},
		Tags: []plc.Tag{{Name: "Kiln1.Setpoint", Device: "kiln1", Address: "DB1.DBW2", Type: plc.TypeInt,
			Access: plc.ReadWrite, Scaling: &plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200},
			Limits: plc.Limits{Min: &lo, Max: &hi}}},
	}
	drv := plctest.New()
	audit := plc.AuditFunc(func(_ context.Context, r plc.AuditRecord) error {
		fmt.Printf("audit: %s/%s set %s from %v to %v (raw %v): %s\n", r.Principal.Tenant, r.Principal.Who, r.Tag, r.Old, r.New, r.Raw, r.Result())
		return nil
	})
	w, err := plc.NewWriter(plc.WriterConfig{Verify: true}, db, map[string]plc.Driver{"kiln1": drv}, audit)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := plc.WithPrincipal(context.Background(), plc.Principal{Who: "alice", Tenant: "acme"})
	fmt.Println(w.WriteText(ctx, "Kiln1.Setpoint", "850"))
	raw, _ := drv.Get("DB1.DBW2")
	fmt.Println("device holds", raw)

	err = w.WriteText(ctx, "Kiln1.Setpoint", "1500")
	var le *plc.LimitError
	fmt.Println(errors.As(err, &le), le.Value)
	// Output:
	// audit: acme/alice set Kiln1.Setpoint from 0 to 850 (raw 19584): ok
	// <nil>
	// device holds 19584
	// audit: acme/alice set Kiln1.Setpoint from <none> to 1500 (raw <none>): plc: write "Kiln1.Setpoint": 1500 is above the maximum 1100
	// true 1500
}

// A driver's ConfigFromDevice: the endpoint's problems stay at endpoint,
// the options' go under options, and an option the decoder refused is
// not reported again by Validate.
func ExampleDecodeOptions() {
	type Config struct {
		Endpoint string `yaml:"endpoint"`
		Rack     int    `yaml:"rack"`
		Slot     int    `yaml:"slot"`
	}
	cfg := Config{}
	err := plc.DecodeOptions(map[string]string{"rack": "x", "slot": "-1", "rak": "1"}, &cfg, func() error {
		var p config.Problems
		if cfg.Endpoint == "" {
			p.Add("endpoint", "is required")
		}
		if cfg.Rack == 0 {
			p.Add("rack", "is required")
		}
		if cfg.Slot < 0 {
			p.Add("slot", "%d is negative", cfg.Slot)
		}
		return p.Err()
	})
	fmt.Println(err)
	// Output:
	// options.rack: "x" is not a whole number
	// options: unknown option "rak" (known: rack, slot)
	// endpoint: is required
	// options.slot: -1 is negative
}
