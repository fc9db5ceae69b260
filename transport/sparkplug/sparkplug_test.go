package sparkplug

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport/sparkplug/spb"
)

func TestParseTopicRoundTripsEveryKind(t *testing.T) {
	for _, s := range []string{
		"spBv1.0/acme/NBIRTH/gw1",
		"spBv1.0/acme/NDEATH/gw1",
		"spBv1.0/acme/NDATA/gw1",
		"spBv1.0/acme/NCMD/gw1",
		"spBv1.0/acme/DBIRTH/gw1/plc1",
		"spBv1.0/acme/DDEATH/gw1/plc1",
		"spBv1.0/acme/DDATA/gw1/plc1",
		"spBv1.0/acme/DCMD/gw1/plc1",
		"spBv1.0/STATE/scada-1",
	} {
		tp, err := ParseTopic(s)
		if err != nil {
			t.Errorf("ParseTopic(%q): %v", s, err)
			continue
		}
		if tp.String() != s {
			t.Errorf("ParseTopic(%q).String() = %q", s, tp.String())
		}
	}
}

func TestParseTopicRefusesWhatIsNotSparkplug(t *testing.T) {
	for _, s := range []string{
		"", "spBv1.0", "spAv1.0/acme/NDATA/gw1", "spBv1.0/acme/NDATA", "spBv1.0/acme/DDATA/gw1",
		"spBv1.0/acme/NDATA/gw1/plc1", "spBv1.0/acme/FOO/gw1", "spBv1.0//NDATA/gw1", "spBv1.0/acme/NDATA/",
		"spBv1.0/STATE", "spBv1.0/STATE/", "spBv1.0/acme/DDATA/gw1/plc1/x", "spBv1.0/acme/STATE/gw1",
		"spBv1.0/a+b/NDATA/gw1", "spBv1.0/acme/NDATA/g#",
	} {
		if _, err := ParseTopic(s); !errors.Is(err, ErrTopic) {
			t.Errorf("ParseTopic(%q) = %v, want ErrTopic", s, err)
		}
	}
}

func TestValuesRoundTripThroughMetrics(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123).UTC()
	for _, tc := range []struct {
		typ plc.DataType
		v   plc.Value
	}{
		{plc.TypeBool, plc.BoolValue(true)},
		{plc.DataType{Kind: plc.SInt}, plc.IntValue(plc.SInt, -128)},
		{plc.TypeInt, plc.IntValue(plc.Int, -2)},
		{plc.DataType{Kind: plc.DInt}, plc.IntValue(plc.DInt, math.MinInt32)},
		{plc.DataType{Kind: plc.LInt}, plc.IntValue(plc.LInt, math.MinInt64)},
		{plc.DataType{Kind: plc.USInt}, plc.UintValue(plc.USInt, 255)},
		{plc.DataType{Kind: plc.UInt}, plc.UintValue(plc.UInt, 65535)},
		{plc.DataType{Kind: plc.UDInt}, plc.UintValue(plc.UDInt, math.MaxUint32)},
		{plc.DataType{Kind: plc.ULInt}, plc.UintValue(plc.ULInt, math.MaxUint64)},
		{plc.TypeReal, plc.FloatValue(plc.Real, 1.5)},
		{plc.TypeLReal, plc.FloatValue(plc.LReal, -273.15)},
		{plc.StringType(20), plc.StringValue("kiln läuft")},
		{plc.DataType{Kind: plc.DateTime}, plc.TimeValue(now)},
		{plc.DataType{Kind: plc.ByteString}, plc.BytesValue([]byte{0, 1, 255})},
	} {
		st := TypeOf(tc.typ)
		m := &spb.Payload_Metric{Name: Name("x")}
		SetValue(m, st, tc.v)
		data, err := Encode(&spb.Payload{Metrics: []*spb.Payload_Metric{m}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Decode("t", data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Value(p.Metrics[0], DataType(p.Metrics[0].GetDatatype()))
		if err != nil {
			t.Errorf("%s: %v", tc.typ, err)
			continue
		}
		if !got.Equal(tc.v) && got.String() != tc.v.String() {
			t.Errorf("%s (%s): got %v, want %v", tc.typ, st, got, tc.v)
		}
	}
}

func TestValueRefusesAMismatchedField(t *testing.T) {
	m := &spb.Payload_Metric{Name: Name("temp")}
	SetValue(m, TypeDouble, plc.FloatValue(plc.LReal, 1))
	if _, err := Value(m, TypeBoolean); !errors.Is(err, ErrValue) {
		t.Errorf("Value as Boolean of a double = %v, want ErrValue", err)
	}
	m2 := &spb.Payload_Metric{Name: Name("b"), Value: &spb.Payload_Metric_IntValue{IntValue: 300}}
	if _, err := Value(m2, TypeUInt8); !errors.Is(err, ErrValue) {
		t.Errorf("300 as UInt8 = %v, want ErrValue", err)
	}
	null := true
	if v, err := Value(&spb.Payload_Metric{IsNull: &null}, TypeDouble); err != nil || v.IsValid() {
		t.Errorf("null metric = %v, %v", v, err)
	}
}

// The byte-exact vectors are built by hand from the specification's field
// numbers (Payload: timestamp 1, metrics 2, seq 3; Metric: name 1, alias 2,
// timestamp 3, datatype 4, is_historical 5, int_value 10, long_value 11,
// double_value 13, boolean_value 14), so a change of schema or encoder
// that breaks other implementations fails here.
func TestPayloadsAreByteExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *spb.Payload
		hex  string
	}{
		{
			name: "NBIRTH with bdSeq 3 and seq 0",
			p: &spb.Payload{Timestamp: Uint64(1), Seq: Uint64(0), Metrics: []*spb.Payload_Metric{
				metric("bdSeq", 0, TypeInt64, plc.IntValue(plc.LInt, 3)),
			}},
			// 08 01 | 12 0b [0a 05 "bdSeq" | 20 04 | 58 03] | 18 00
			hex: "0801120b0a05626453657120045803" + "1800",
		},
		{
			name: "DDATA by alias 7, historical, double 1.5 at t=1000, seq 255",
			p: &spb.Payload{Timestamp: Uint64(2000), Seq: Uint64(255), Metrics: []*spb.Payload_Metric{
				func() *spb.Payload_Metric {
					m := &spb.Payload_Metric{Alias: Uint64(7), Timestamp: Uint64(1000)}
					h := true
					m.IsHistorical = &h
					SetValue(m, TypeDouble, plc.FloatValue(plc.LReal, 1.5))
					return m
				}(),
			}},
			// 08 d0 0f | 12 12 [10 07 | 18 e8 07 | 20 0a | 28 01 | 69 00 00 00 00 00 00 f8 3f] | 18 ff 01
			hex: "08d00f" + "1212" + "1007" + "18e807" + "200a" + "2801" + "69000000000000f83f" + "18ff01",
		},
		{
			name: "NCMD rebirth",
			p: &spb.Payload{Timestamp: Uint64(5), Metrics: []*spb.Payload_Metric{
				metric(MetricRebirth, 0, TypeBoolean, plc.BoolValue(true)),
			}},
			// 08 05 | 12 1a [0a 14 "Node Control/Rebirth" | 20 0b | 70 01]
			hex: "0805121a0a144e6f646520436f6e74726f6c2f52656269727468200b7001",
		},
		{
			name: "INT -2 as two's complement of 16 bits",
			p:    &spb.Payload{Metrics: []*spb.Payload_Metric{metric("", 1, TypeInt16, plc.IntValue(plc.Int, -2))}},
			// 12 08 [10 01 | 20 02 | 50 fe ff 03]
			hex: "1208" + "1001" + "2002" + "50feff03",
		},
	} {
		got, err := Encode(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := hex.DecodeString(tc.hex)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, got, want)
		}
		back, err := Decode("t", want)
		if err != nil || !proto.Equal(back, tc.p) {
			t.Errorf("%s: decoding the vector = %v, %v", tc.name, back, err)
		}
	}
}

func metric(name string, alias uint64, t DataType, v plc.Value) *spb.Payload_Metric {
	m := &spb.Payload_Metric{}
	if name != "" {
		m.Name = Name(name)
	}
	if alias != 0 {
		m.Alias = Uint64(alias)
	}
	SetValue(m, t, v)
	return m
}

func TestStateRoundTripsAndRefusesGarbage(t *testing.T) {
	s, err := ParseState(EncodeState(State{Online: true, Timestamp: 42}))
	if err != nil || !s.Online || s.Timestamp != 42 {
		t.Errorf("ParseState = %+v, %v", s, err)
	}
	if _, err := ParseState([]byte("ONLINE")); !errors.Is(err, ErrPayload) {
		t.Errorf("ParseState of 2.2's plain text = %v, want ErrPayload", err)
	}
}

func TestPropertiesAndQuality(t *testing.T) {
	m := &spb.Payload_Metric{}
	SetProperty(m, PropEngUnit, StringProp("°C"))
	SetProperty(m, PropQuality, Int32Prop(QualityCode(plc.Bad(plc.ReasonCommFailure, "x"))))
	SetProperty(m, PropQuality, Int32Prop(QualityCode(plc.Good)))
	if got := Property(m, PropEngUnit).GetStringValue(); got != "°C" {
		t.Errorf("engUnit = %q", got)
	}
	if got := int32(Property(m, PropQuality).GetIntValue()); got != QualityGood || len(m.Properties.Keys) != 2 {
		t.Errorf("Quality = %d with %d keys", got, len(m.Properties.Keys))
	}
	if !QualityOf(QualityGood).IsGood() || QualityOf(QualityBad).IsGood() || QualityOf(QualityStale).Reason != plc.ReasonStale {
		t.Error("QualityOf does not invert QualityCode")
	}
	if Property(m, "none") != nil {
		t.Error("missing property found")
	}
}

func FuzzDecode(f *testing.F) {
	for _, h := range []string{"0801120b0a05626453657120045803" + "1800", "08d00f1212100718e807200a280169000000000000f83f18ff01", ""} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode("fuzz", data)
		if err != nil {
			return
		}
		for _, m := range p.GetMetrics() {
			_, _ = Value(m, DataType(m.GetDatatype()))
		}
		if _, err := Encode(p); err != nil {
			t.Fatalf("re-encoding a decoded payload: %v", err)
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"spBv1.0/acme/DDATA/gw1/plc1", "spBv1.0/STATE/h", "spBv1.0/a/NDATA/n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := ParseTopic(s)
		if err != nil {
			return
		}
		if tp.String() != s {
			t.Fatalf("ParseTopic(%q).String() = %q", s, tp.String())
		}
	})
}

func TestBatchIDsRoundTripAndOthersAreNotOnes(t *testing.T) {
	id := BatchID{Source: "gw:1", Epoch: 42, Seq: 7}
	got, ok := ParseBatchID(id.String())
	if !ok || got != id {
		t.Errorf("ParseBatchID(%q) = %+v, %v", id.String(), got, ok)
	}
	for _, s := range []string{"", "8a3f-uuid", "kiln-batch:1:x:1:gw", "kiln-batch:1:1:1:", "kiln-batch:2:1:1:gw", "kiln-batch:1:1"} {
		if _, ok := ParseBatchID(s); ok {
			t.Errorf("ParseBatchID(%q) took it for a batch id", s)
		}
	}
}
