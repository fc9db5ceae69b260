package codec

import (
	"math"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

func TestSplitJoinRoundTrip(t *testing.T) {
	values := []plc.Value{
		{},
		plc.BoolValue(true), plc.BoolValue(false),
		plc.IntValue(plc.SInt, -128), plc.IntValue(plc.LInt, math.MinInt64), plc.IntValue(plc.DInt, 123456),
		plc.UintValue(plc.ULInt, math.MaxUint64), plc.UintValue(plc.Word, 0xBEEF), plc.UintValue(plc.Char, 'A'),
		plc.FloatValue(plc.Real, 0.1), plc.FloatValue(plc.LReal, math.Inf(-1)), plc.FloatValue(plc.LReal, math.Copysign(0, -1)),
		plc.StringValue("Grüße"), plc.BytesValue([]byte{0, 0xff, 0x80}),
		plc.TimeValue(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)),
	}
	for _, v := range values {
		kind, num, str, isStr := Split(v)
		if HasNum(kind) == isStr && v.IsValid() {
			t.Fatalf("%v: HasNum(%d) = %v but isStr = %v", v, kind, HasNum(kind), isStr)
		}
		got, err := Join(kind, num, []byte(str))
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind() != v.Kind() || got.String() != v.String() || math.Signbit(got.Float()) != math.Signbit(v.Float()) {
			t.Errorf("round trip of %s %v gave %s %v", v.Kind(), v, got.Kind(), got)
		}
	}
	nan, _, _, _ := Split(plc.FloatValue(plc.LReal, math.NaN()))
	_, num, _, _ := Split(plc.FloatValue(plc.LReal, math.NaN()))
	if got, _ := Join(nan, num, nil); !math.IsNaN(got.Float()) {
		t.Errorf("NaN came back as %v", got)
	}
}

func TestJoinRefusesUnknownKind(t *testing.T) {
	if _, err := Join(200, 0, nil); err == nil {
		t.Fatal("Join accepted kind 200")
	}
}
