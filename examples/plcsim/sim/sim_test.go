package sim_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	_ "github.com/kiln-iot/kiln/opcua" // registers the "opcua" driver
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/modbus"
	"github.com/kiln-iot/kiln/plc/s7" // also registers the "s7" driver
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKilnLineIsValid(t *testing.T) {
	l := sim.KilnLine()
	kinds := map[plc.Kind]bool{}
	var signals, writable int
	for _, tg := range l.Tags {
		kinds[tg.Type.Kind] = true
		if tg.Signal != nil {
			signals++
		}
		if tg.Access == "rw" {
			writable++
		}
	}
	for _, k := range []plc.Kind{plc.Real, plc.Int, plc.DInt, plc.Bool, plc.String} {
		if !kinds[k] {
			t.Errorf("demo tag list has no %s tag", k)
		}
	}
	if signals < 5 || writable < 3 {
		t.Errorf("demo tag list has %d signals and %d writable tags; want a lively plant", signals, writable)
	}
}

// TestParseTagListReportsEveryProblemInOneRun parses broken tag lists
// and checks that one parse names every problem with file, line and YAML
// path ("line:path"), in words without Go type names.
func TestParseTagListReportsEveryProblemInOneRun(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "tags:\n  - name: A\n    adress: DB1.DBW0\n    type: INT\n", []string{"3:tags[0].address"}},
		{"bad type with other mistakes", "tags:\n  - name: A\n    address: DB1.DBW0\n    type: FLOT\n    deadband: wide\n    colour: red\n", []string{"4:tags[0].type", "5:tags[0].deadband", "6:tags[0]"}},
		{"bad address", "tags:\n  - name: A\n    address: DB1.DBQ0\n    type: INT\n", []string{"3:tags[0].address"}},
		{"type does not fit", "tags:\n  - name: A\n    address: DB1.DBW0\n    type: REAL\n", []string{"3:tags[0].address"}},
		{"duplicate", "tags:\n  - {name: A, address: DB1.DBW0, type: INT}\n  - {name: A, address: DB1.DBW2, type: INT}\n", []string{"3:tags[1].name"}},
		{"unknown signal", "tags:\n  - name: A\n    address: DB1.DBW0\n    type: INT\n    signal:\n      kind: sawtooth\n", []string{"6:tags[0].signal.kind"}},
		{"sine without period", "tags:\n  - name: A\n    address: DB1.DBW0\n    type: INT\n    signal: {kind: sine}\n", []string{"5:tags[0].signal.period"}},
		{"signal on string", "tags:\n  - name: A\n    address: DB1.DBB0[8]\n    type: STRING[8]\n    signal: {kind: constant}\n", []string{"5:tags[0].signal"}},
		{"initial out of the type's range", "tags:\n  - name: A\n    address: DB1.DBB0\n    type: BYTE\n    initial: \"300\"\n", []string{"5:tags[0].initial"}},
		{"groups and tags", "groups:\n  - {name: g, rate: 5ms, full_refresh: sometimes}\n  - {rate: fast}\ntags:\n  - {name: A, address: DB1.DBW0, type: INT, group: fastest, via: modbus, access: rx}\n", []string{
			"3:groups[1].rate", "2:groups[0].rate", "2:groups[0].full_refresh", "3:groups[1].name", "5:tags[0].access", "5:tags[0].via", "5:tags[0].group"}},
		{"limits and scaling", "tags:\n  - {name: A, address: DB1.DBW0, type: INT, min: 5, max: 1, scaling: {raw_min: 0, raw_max: 0, eng_min: 0, eng_max: 1}}\n", []string{"2:tags[0].min", "2:tags[0].scaling"}},
		{"wrong kinds", "groups: {name: g}\ntags:\n  - [a]\n  - {name: B, address: DB1.DBW0, type: INT, min: low, signal: sine}\n", []string{"1:groups", "3:tags[0]", "4:tags[1].min", "4:tags[1].signal"}},
		{"missing names and types", "tags:\n  - {address: DB1.DBW0}\n  - {name: B}\n", []string{"2:tags[0].name", "2:tags[0].type", "3:tags[1].type"}},
		{"syntax", "tags: [\n", []string{"1:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sim.ParseTagList("plant.yaml", []byte(c.yaml))
			var got []string
			for _, fe := range config.List(err) {
				got = append(got, fmt.Sprintf("%d:%s", fe.Line, fe.Path))
				if fe.File != "plant.yaml" {
					t.Errorf("%v: file %q", fe, fe.File)
				}
				for _, word := range []string{"!!", "unmarshal", "time.Duration", "not found in type"} {
					if strings.Contains(fe.Msg, word) {
						t.Errorf("%v: names Go's %q", fe, word)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("problems %q, want %q:\n%v", got, c.want, err)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name    string
		s       sim.Signal
		elapsed time.Duration
		prev    float64
		want    float64
	}{
		{"constant", sim.Signal{Kind: sim.Constant, Offset: 7}, time.Hour, 0, 7},
		{"sine at a quarter", sim.Signal{Kind: sim.Sine, Offset: 100, Amplitude: 10, Period: 4 * time.Second}, time.Second, 0, 110},
		{"sine at three quarters", sim.Signal{Kind: sim.Sine, Offset: 100, Amplitude: 10, Period: 4 * time.Second}, 3 * time.Second, 0, 90},
		{"ramp halfway", sim.Signal{Kind: sim.Ramp, Offset: 10, Amplitude: 20, Period: 10 * time.Second}, 25 * time.Second, 0, 20},
		{"square low", sim.Signal{Kind: sim.Square, Offset: 1, Amplitude: 2, Period: 10 * time.Second}, 4 * time.Second, 0, 1},
		{"square high", sim.Signal{Kind: sim.Square, Offset: 1, Amplitude: 2, Period: 10 * time.Second}, 6 * time.Second, 0, 3},
		{"counter", sim.Signal{Kind: sim.Counter, Step: 5}, 0, 10, 15},
		{"counter wraps", sim.Signal{Kind: sim.Counter, Offset: 0, Amplitude: 10, Step: 5}, 0, 10, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.s.Next(c.elapsed, c.prev, r)
			if d := got - c.want; d > 1e-9 || d < -1e-9 {
				t.Fatalf("Next = %v, want %v", got, c.want)
			}
		})
	}
	t.Run("walk stays in its band", func(t *testing.T) {
		s := sim.Signal{Kind: sim.Walk, Offset: 50, Amplitude: 5, Step: 3}
		v, moved := 50.0, false
		for range 1000 {
			n := s.Next(0, v, r)
			if n < 45 || n > 55 {
				t.Fatalf("walk left 45..55: %v", n)
			}
			moved = moved || n != v
			v = n
		}
		if !moved {
			t.Fatal("walk never moved")
		}
	})
	t.Run("noise", func(t *testing.T) {
		s := sim.Signal{Kind: sim.Constant, Offset: 10, Noise: 1}
		var differs bool
		for range 100 {
			differs = differs || s.Next(0, 0, r) != 10
		}
		if !differs {
			t.Fatal("noise never showed")
		}
	})
}

// newPlant starts the demo plant on free ports with a fake clock.
func newPlant(t *testing.T) (*sim.Plant, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p, err := sim.New(sim.Config{Seed: 7}, sim.KilnLine(), sim.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, clk
}

// openDrivers opens the gateway-side drivers for the plant's point database.
func openDrivers(t *testing.T, p *sim.Plant) (*plc.PointDB, map[string]plc.Driver) {
	t.Helper()
	db, err := p.PointDB()
	if err != nil {
		t.Fatal(err)
	}
	drivers := map[string]plc.Driver{}
	for _, dev := range db.Devices {
		d, err := plc.Open(dev, plc.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		drivers[dev.Name] = d
		t.Cleanup(func() { _ = d.Close() })
	}
	return db, drivers
}

// readOver reads one tag through a device's driver, retrying while the
// driver connects.
func readOver(t *testing.T, d plc.Driver, tag plc.Tag) plc.Value {
	t.Helper()
	r, err := d.Prepare([]plc.Tag{tag})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]plc.Sample, 1)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.Read(ctx, out)
		cancel()
		if err == nil && out[0].Quality.IsGood() {
			return out[0].Value
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s over %s: %v %v", tag.Name, tag.Device, err, out[0].Quality)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeOver(t *testing.T, d plc.Driver, tag plc.Tag, v plc.Value) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs := d.Write(ctx, []plc.WriteItem{{Tag: tag, Value: v}})
		cancel()
		if errs[0] == nil {
			return
		}
		if !errors.Is(errs[0], plc.ErrNotConnected) || time.Now().After(deadline) {
			t.Fatalf("write %s over %s: %v", tag.Name, tag.Device, errs[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// as returns tag moved to the other device.
func as(tag plc.Tag, device, address string) plc.Tag {
	tag.Device, tag.Address = device, address
	return tag
}

func TestWriteOverOneProtocolReadsOverTheOther(t *testing.T) {
	p, _ := newPlant(t)
	db, drivers := openDrivers(t, p)
	s7, ua := drivers[sim.DeviceS7], drivers[sim.DeviceOPCUA]
	lt := p.TagList()
	addrOf := func(name string) string {
		for _, tg := range lt.Tags {
			if tg.Name == name {
				return tg.Address
			}
		}
		t.Fatalf("no tag %s", name)
		return ""
	}

	// Kiln1.Zone1.Setpoint is read over S7 in the point database.
	sp, _ := db.Tag("Kiln1.Zone1.Setpoint")
	writeOver(t, s7, *sp, plc.FloatValue(plc.Real, 905.5))
	spUA := as(*sp, sim.DeviceOPCUA, "ns=2;s=Kiln1.Zone1.Setpoint")
	if got := readOver(t, ua, spUA); got.Float() != 905.5 {
		t.Fatalf("S7 write of 905.5 reads %v over OPC UA", got)
	}
	// The recipe is read over OPC UA; write it there, read it over S7.
	rc, _ := db.Tag("Kiln1.Recipe")
	writeOver(t, ua, *rc, plc.StringValue("TILE-GREY-02"))
	rcS7 := as(*rc, sim.DeviceS7, addrOf("Kiln1.Recipe"))
	if got := readOver(t, s7, rcS7); got.Str() != "TILE-GREY-02" {
		t.Fatalf("OPC UA write reads %q over S7", got.Str())
	}
	// A bit written over S7 leaves its neighbours alone and shows over OPC UA.
	be, _ := db.Tag("Kiln1.Burner.Enable")
	writeOver(t, s7, *be, plc.BoolValue(false))
	if got := readOver(t, ua, as(*be, sim.DeviceOPCUA, "ns=2;s=Kiln1.Burner.Enable")); got.Bool() {
		t.Fatal("burner still enabled over OPC UA after an S7 write of false")
	}
	if v, err := p.Get("Kiln1.Burner.Enable"); err != nil || v.Bool() {
		t.Fatalf("Get = %v, %v; want false", v, err)
	}
	if p.Writes() < 3 {
		t.Fatalf("Writes = %d, want at least 3", p.Writes())
	}
}

func TestSignalsMoveWithTheClock(t *testing.T) {
	p, clk := newPlant(t)
	before, err := p.Get("Line1.Bricks.Count")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	for range 5 {
		clk.BlockUntil(1)
		clk.Advance(sim.DefaultUpdate)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
	after, _ := p.Get("Line1.Bricks.Count")
	if n, _ := after.Int(); n < 0 || after.Equal(before) {
		t.Fatalf("counter did not move: %v -> %v", before, after)
	}
	// A zone temperature follows its sine around 850.
	if v, _ := p.Get("Kiln1.Zone1.Temp"); v.Float() < 830 || v.Float() > 870 {
		t.Fatalf("Zone1.Temp = %v, want about 850", v)
	}
	// The scaled exhaust temperature is stored raw: 240 °C is about 11059.
	if v, _ := p.Get("Kiln1.Exhaust.Temp"); v.Kind() != plc.Int || v.Float() < 8000 || v.Float() > 14000 {
		t.Fatalf("Exhaust.Temp raw = %v", v)
	}
	if _, err := p.Get("Nope"); !errors.Is(err, sim.ErrUnknownTag) {
		t.Fatalf("Get of an unknown tag: %v", err)
	}
}

func TestSetReachesBothProtocols(t *testing.T) {
	p, _ := newPlant(t)
	if err := p.Set("Line1.Fan1.SpeedSetpoint", plc.IntValue(plc.Int, 2100)); err != nil {
		t.Fatal(err)
	}
	if v, err := p.OPCUA().Get("Line1.Fan1.SpeedSetpoint"); err != nil || v.Float() != 2100 {
		t.Fatalf("OPC UA side = %v, %v", v, err)
	}
	if v, _ := p.Get("Line1.Fan1.SpeedSetpoint"); v.Float() != 2100 {
		t.Fatalf("S7 side = %v", v)
	}
}

func FuzzParseTagList(f *testing.F) {
	f.Add([]byte(sim.KilnLineYAML()))
	f.Add([]byte("tags:\n  - {name: A, address: DB1.DBW0, type: INT, signal: {kind: sine, period: 1s}}\n"))
	f.Add([]byte("groups: [{name: g, rate: 5ms}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := sim.ParseTagList("f.yaml", data)
		if err != nil {
			return
		}
		if _, err := l.PointDB("127.0.0.1:1", "", 2); err != nil && len(config.List(err)) == 0 {
			t.Fatalf("PointDB of a valid tag list: unlocated error %v", err)
		}
	})
}

func TestModbusServesTheSameMemory(t *testing.T) {
	p, _ := newPlant(t)
	db, drivers := openDrivers(t, p)
	mb, err := modbus.New(modbus.Config{Endpoint: p.ModbusAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	ua := drivers[sim.DeviceOPCUA]
	served := 0
	for _, lt := range p.TagList().Tags {
		tg, _ := db.Tag(lt.Name)
		a, err := s7.ParseAddress(lt.Address, tg.Type)
		if err != nil {
			t.Fatal(err)
		}
		addr, ok := sim.ModbusAddress(a)
		if !ok {
			continue
		}
		served++
		want, err := p.Get(lt.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := readOver(t, mb, as(*tg, "modbus", addr))
		viaUA := readOver(t, ua, as(*tg, sim.DeviceOPCUA, "ns=2;s="+lt.Name))
		if !got.Equal(want) || !viaUA.Equal(want) {
			t.Errorf("%s: %v over Modbus (%s), %v over OPC UA, %v in S7 memory", lt.Name, got, addr, viaUA, want)
		}
	}
	if served < 10 {
		t.Fatalf("only %d tags served over Modbus", served)
	}
	// A Modbus write reads back over S7 and OPC UA.
	sp, _ := db.Tag("Kiln1.Zone1.Setpoint")
	writeOver(t, mb, as(*sp, "modbus", "1!HR11:REAL"), plc.FloatValue(plc.Real, 911.5))
	if got := readOver(t, ua, as(*sp, sim.DeviceOPCUA, "ns=2;s=Kiln1.Zone1.Setpoint")); got.Float() != 911.5 {
		t.Errorf("Modbus write of 911.5 reads %v over OPC UA", got)
	}
	if got := readOver(t, drivers[sim.DeviceS7], as(*sp, sim.DeviceS7, "DB1.DBD20")); got.Float() != 911.5 {
		t.Errorf("Modbus write of 911.5 reads %v over S7", got)
	}
}
