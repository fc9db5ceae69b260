package plctest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func read(t *testing.T, r plc.Reader, n int) []plc.Sample {
	t.Helper()
	out := make([]plc.Sample, n)
	if err := r.Read(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadsWhatWasSet(t *testing.T) {
	d := plctest.New(plctest.WithNow(func() time.Time { return now }))
	tags := []plc.Tag{
		{Name: "a", Address: "MW0", Type: plc.TypeInt},
		{Name: "b", Address: "MD4", Type: plc.TypeReal},
		{Name: "c", Address: "M0.0", Type: plc.TypeBool},
		{Name: "s", Address: "S", Type: plc.StringType(3)},
		{Name: "alias", Address: "MW0", Type: plc.TypeDInt}, // same memory, other type
		{Name: "bad", Address: "has space", Type: plc.TypeInt},
		{Name: "unset", Address: "MW100", Type: plc.TypeWord},
		{Name: "long", Address: "L", Type: plc.StringType(2)},
	}
	r, err := d.Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("MW0", plc.IntValue(plc.Int, -7))
	d.Set("MD4", plc.FloatValue(plc.LReal, 1.5))
	d.Set("M0.0", plc.BoolValue(true))
	d.Set("S", plc.StringValue("abc"))
	d.Set("L", plc.StringValue("abc"))
	got := read(t, r, len(tags))
	want := []string{"a=-7 good", "b=1.5 good", "c=true good", "s=abc good", "alias=-7 good",
		"bad=<none> bad (config error: address rejected)", "unset=0 good",
		"long=<none> bad (config error: stored value does not fit the tag's type)"}
	for i, s := range got {
		if line := s.Tag + "=" + s.Value.String() + " " + s.Quality.String(); line != want[i] {
			t.Errorf("sample %d: %s, want %s", i, line, want[i])
		}
		if !s.Time.Equal(now) {
			t.Errorf("sample %d time %v", i, s.Time)
		}
	}
	if got[1].Value.Kind() != plc.Real || got[4].Value.Kind() != plc.DInt {
		t.Errorf("values not of the tags' types: %v %v", got[1].Value.Kind(), got[4].Value.Kind())
	}
	if d.Reads() != 1 {
		t.Errorf("reads = %d", d.Reads())
	}
	if v, ok := d.Get("MW0"); !ok || v.String() != "-7" {
		t.Errorf("Get = %v, %v", v, ok)
	}
	if _, ok := d.Get("MW100"); ok {
		t.Error("Get of unset memory is ok")
	}
}

func TestInjectedFailures(t *testing.T) {
	d := plctest.New()
	tags := []plc.Tag{{Name: "a", Address: "A", Type: plc.TypeInt}, {Name: "b", Address: "B", Type: plc.TypeInt}}
	r, _ := d.Prepare(tags)

	d.SetQuality("A", plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: 5})
	got := read(t, r, 2)
	if got[0].Quality.Code != 5 || got[0].Value.IsValid() || !got[1].Quality.IsGood() {
		t.Fatalf("per-tag quality: %+v", got)
	}
	d.SetQuality("A", plc.Good)
	d.Fail(errors.New("cable"))
	got = read(t, r, 2)
	for _, s := range got {
		if s.Quality.Reason != plc.ReasonCommFailure {
			t.Fatalf("device down: %+v", s)
		}
	}
	errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tags[0], Value: plc.IntValue(plc.Int, 1)}})
	if !errors.Is(errs[0], plc.ErrNotConnected) || !strings.Contains(errs[0].Error(), "cable") {
		t.Fatalf("write while down: %v", errs[0])
	}
	d.Fail(nil)
	if got := read(t, r, 2); !got[0].Quality.IsGood() {
		t.Fatal("not healed")
	}

	hookErr := errors.New("held")
	d.SetReadHook(func(context.Context) error { return hookErr })
	out := make([]plc.Sample, 2)
	if err := r.Read(context.Background(), out); !errors.Is(err, hookErr) || out[0].Quality.IsGood() || out[1].Tag != "b" {
		t.Fatalf("hook error: %v %+v", err, out)
	}
	d.SetReadHook(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Read(ctx, out); !errors.Is(err, context.Canceled) || out[0].Quality.IsGood() {
		t.Fatalf("cancelled read: %v", err)
	}
}

func TestWrites(t *testing.T) {
	d := plctest.New()
	a := plc.Tag{Name: "a", Address: "A", Type: plc.TypeInt}
	s := plc.Tag{Name: "s", Address: "S", Type: plc.StringType(2)}
	itemErr := errors.New("item error")
	d.SetWriteError("B", itemErr)
	errs := d.Write(context.Background(), []plc.WriteItem{
		{Tag: a, Value: plc.IntValue(plc.Int, 9)},
		{Tag: a, Value: plc.IntValue(plc.DInt, 9)}, // not the tag's type
		{Tag: plc.Tag{Name: "b", Address: "B", Type: plc.TypeInt}, Value: plc.IntValue(plc.Int, 1)},
		{Tag: s, Value: plc.StringValue("abc")},
		{Tag: plc.Tag{Name: "x", Address: "", Type: plc.TypeInt}, Value: plc.IntValue(plc.Int, 1)},
	})
	if errs[0] != nil || errs[1] == nil || !errors.Is(errs[2], itemErr) || errs[3] == nil || errs[4] == nil {
		t.Fatalf("errs = %v", errs)
	}
	if w := d.Writes(); len(w) != 1 || w[0].Value.String() != "9" {
		t.Fatalf("writes = %+v", w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if errs := d.Write(ctx, []plc.WriteItem{{Tag: a, Value: plc.IntValue(plc.Int, 1)}}); !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("cancelled write: %v", errs[0])
	}
}

func TestClose(t *testing.T) {
	d := plctest.New()
	tags := []plc.Tag{{Name: "a", Address: "A", Type: plc.TypeInt}}
	r, _ := d.Prepare(tags)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	out := make([]plc.Sample, 1)
	if err := r.Read(context.Background(), out); !errors.Is(err, plc.ErrClosed) || out[0].Quality.IsGood() {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := d.Prepare(tags); !errors.Is(err, plc.ErrClosed) {
		t.Fatalf("prepare after close: %v", err)
	}
	if errs := d.Write(context.Background(), []plc.WriteItem{{Tag: tags[0], Value: plc.IntValue(plc.Int, 1)}}); !errors.Is(errs[0], plc.ErrClosed) {
		t.Fatalf("write after close: %v", errs[0])
	}
}

func TestRegisterAndOpen(t *testing.T) {
	plctest.Register()
	plctest.Register() // idempotent
	reg, ok := plc.Lookup(plctest.DriverName)
	if !ok {
		t.Fatal("not registered")
	}
	if err := reg.CheckAddress("DB1.DBW0", plc.TypeInt); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "tab\t", strings.Repeat("x", plctest.MaxAddressLen+1)} {
		if reg.CheckAddress(bad, plc.TypeInt) == nil {
			t.Errorf("CheckAddress(%q) accepted", bad)
		}
	}
	if reg.CheckAddress("ok", plc.DataType{}) == nil {
		t.Error("invalid type accepted")
	}
	drv, err := plc.Open(plc.Device{Name: "oven", Driver: plctest.DriverName}, plc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if drv != plctest.Shared("oven") {
		t.Fatal("Open did not give the shared driver of the device")
	}
	drv.Close()
	if plctest.Shared("oven") == drv {
		t.Fatal("a closed shared driver was handed out again")
	}
	if _, err := plc.Open(plc.Device{Driver: plctest.DriverName}, plc.OpenOptions{}); err == nil {
		t.Fatal("device without name accepted")
	}
}

// TestReadDoesNotAllocate pins that the in-memory device adds no
// allocations to the poller benchmarks.
func TestReadDoesNotAllocate(t *testing.T) {
	d := plctest.New()
	tags := []plc.Tag{{Name: "a", Address: "A", Type: plc.TypeInt}, {Name: "b", Address: "B", Type: plc.TypeReal}}
	d.Set("A", plc.IntValue(plc.DInt, 3)) // converted on every read
	r, _ := d.Prepare(tags)
	out := make([]plc.Sample, 2)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = r.Read(ctx, out) }); n != 0 {
		t.Fatalf("Read allocates %v times", n)
	}
}
