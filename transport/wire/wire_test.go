package wire

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kiln-iot/kiln/plc"
	kilnv1 "github.com/kiln-iot/kiln/transport/wire/kiln/v1"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)

// everyKind is a batch holding every kind, with extreme values where the
// kind has them.
func everyKind() *Batch {
	good := plc.Good
	bad := plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: 0x0A, Detail: "object does not exist"}
	unc := plc.Quality{Status: plc.StatusUncertain, Reason: plc.ReasonStale}
	vals := []plc.Value{
		{}, // no value
		plc.BoolValue(true), plc.BoolValue(false),
		plc.UintValue(plc.Byte, 255), plc.UintValue(plc.Char, 'A'),
		plc.IntValue(plc.SInt, -128), plc.UintValue(plc.USInt, 200),
		plc.UintValue(plc.Word, 0xFFFF), plc.IntValue(plc.Int, -32768), plc.UintValue(plc.UInt, 65535),
		plc.UintValue(plc.DWord, math.MaxUint32), plc.IntValue(plc.DInt, math.MinInt32), plc.UintValue(plc.UDInt, 0),
		plc.FloatValue(plc.Real, 0.1), plc.FloatValue(plc.Real, float64(math.Inf(-1))),
		plc.UintValue(plc.LWord, math.MaxUint64), plc.IntValue(plc.LInt, math.MinInt64), plc.IntValue(plc.LInt, math.MaxInt64),
		plc.UintValue(plc.ULInt, math.MaxUint64-1), plc.FloatValue(plc.LReal, math.Pi), plc.FloatValue(plc.LReal, math.Copysign(0, -1)),
		plc.StringValue("Grüße, Ofen 3"), plc.StringValue(""), plc.TimeValue(t0), plc.BytesValue([]byte{0, 1, 2, 0xFF}),
	}
	b := &Batch{Source: "gw-hamburg-01", Tenant: "acme", Seq: 1 << 40, Epoch: 0xfeedface_cafebeef}
	for i, v := range vals {
		q := []plc.Quality{good, bad, unc, {}}[i%4]
		b.Samples = append(b.Samples, plc.Sample{Tag: "line1.tag" + v.Kind().String(), Value: v, Quality: q, Time: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	// a long tag name makes a sample longer than 127 bytes
	b.Samples = append(b.Samples, plc.Sample{Tag: strings.Repeat("x", 300), Value: plc.IntValue(plc.Int, 7), Quality: good, Time: t0})
	return b
}

func sameBatch(t *testing.T, got, want *Batch) {
	t.Helper()
	if got.Source != want.Source || got.Tenant != want.Tenant || got.Seq != want.Seq || got.Epoch != want.Epoch || len(got.Samples) != len(want.Samples) {
		t.Fatalf("batch header: got %q %q %d (%d samples), want %q %q %d (%d)", got.Source, got.Tenant, got.Seq, len(got.Samples), want.Source, want.Tenant, want.Seq, len(want.Samples))
	}
	for i := range want.Samples {
		g, w := got.Samples[i], want.Samples[i]
		sameValue := g.Value.Kind() == w.Value.Kind() && (g.Value.Equal(w.Value) || (w.Value.Kind() == plc.KindInvalid) ||
			(w.Value.Kind().IsFloat() && math.Float64bits(g.Value.Float()) == math.Float64bits(w.Value.Float())))
		if g.Tag != w.Tag || !sameValue || g.Quality != w.Quality || !g.Time.Equal(w.Time) {
			t.Fatalf("sample %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestRoundTripEveryKindExactly(t *testing.T) {
	want := everyKind()
	var got Batch
	if err := Decode(AppendBatch(nil, want), &got); err != nil {
		t.Fatal(err)
	}
	sameBatch(t, &got, want)
	// 64-bit integers are exact, not squeezed through float64
	for _, s := range got.Samples {
		if s.Value.Kind() == plc.LInt {
			if i, _ := s.Value.Int(); i != math.MinInt64 && i != math.MaxInt64 {
				t.Fatalf("LINT %d", i)
			}
		}
	}
}

// The hand-written encoder and decoder speak the schema: the generated
// types read what AppendBatch writes, and Decode reads what they write.
func TestConformsToGeneratedSchema(t *testing.T) {
	want := everyKind()
	var pb kilnv1.Batch
	if err := proto.Unmarshal(AppendBatch(nil, want), &pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetSource() != want.Source || pb.GetTenant() != want.Tenant || pb.GetSequence() != want.Seq || pb.GetEpoch() != want.Epoch || len(pb.GetSamples()) != len(want.Samples) {
		t.Fatalf("generated types read %v", &pb)
	}
	lint := pb.GetSamples()[17]
	if lint.GetKind() != kilnv1.Kind_KIND_LINT || lint.GetIntValue() != math.MaxInt64 {
		t.Fatalf("LINT sample as read by generated code: %v", lint)
	}
	if q := pb.GetSamples()[1].GetQuality(); q.GetStatus() != kilnv1.Status_STATUS_BAD || q.GetReason() != kilnv1.Reason_REASON_DEVICE_ERROR || q.GetCode() != 0x0A {
		t.Fatalf("quality as read by generated code: %v", q)
	}
	if got := pb.GetSamples()[23].GetTimeValue(); got != t0.UnixNano() {
		t.Fatalf("DATETIME as read by generated code: %d", got)
	}
	// and back: generated Marshal, hand-written Decode
	raw, err := proto.Marshal(&pb)
	if err != nil {
		t.Fatal(err)
	}
	var got Batch
	if err := Decode(raw, &got); err != nil {
		t.Fatal(err)
	}
	sameBatch(t, &got, want)
}

func TestDecodeRejectsInconsistentValues(t *testing.T) {
	cases := map[string]*kilnv1.Sample{
		"int out of INT range":   {Tag: "a", Kind: kilnv1.Kind_KIND_INT, Value: &kilnv1.Sample_IntValue{IntValue: 70000}},
		"uint out of BYTE range": {Tag: "a", Kind: kilnv1.Kind_KIND_BYTE, Value: &kilnv1.Sample_UintValue{UintValue: 256}},
		"REAL in double field":   {Tag: "a", Kind: kilnv1.Kind_KIND_REAL, Value: &kilnv1.Sample_DoubleValue{DoubleValue: 1}},
		"value without kind":     {Tag: "a", Value: &kilnv1.Sample_BoolValue{BoolValue: true}},
		"unknown kind":           {Tag: "a", Kind: kilnv1.Kind(99)},
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := proto.Marshal(&kilnv1.Batch{Source: "gw", Samples: []*kilnv1.Sample{s}})
			if err != nil {
				t.Fatal(err)
			}
			var b Batch
			err = Decode(raw, &b)
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(de.Field, "a") {
				t.Fatalf("Decode = %v, want a *DecodeError naming the sample", err)
			}
		})
	}
}

func TestDecodeTruncatedNamesOffset(t *testing.T) {
	raw := AppendBatch(nil, everyKind())
	for n := range len(raw) {
		var b Batch
		err := Decode(raw[:n], &b)
		if err == nil {
			continue // a cut between samples is a shorter valid batch
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Offset < 0 || de.Offset > n {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

func TestMessageRoundTripAndContentType(t *testing.T) {
	want := everyKind()
	m := ToMessage(want, nil)
	if m.Key != want.Source || m.Properties[PropContentType] != ContentType || m.Properties[PropTenant] != "acme" {
		t.Fatalf("message: %+v", m)
	}
	if !m.EventTime.Equal(want.Samples[len(want.Samples)-2].Time) {
		t.Fatalf("event time %v", m.EventTime)
	}
	var got Batch
	if err := FromMessage(m, &got); err != nil {
		t.Fatal(err)
	}
	sameBatch(t, &got, want)
	for _, ct := range []string{"", "application/json", "application/x-kiln-batch+protobuf; v=2", "application/x-kiln-batch+protobuf"} {
		m.Properties[PropContentType] = ct
		if err := FromMessage(m, &got); !errors.Is(err, ErrContentType) {
			t.Fatalf("content type %q: %v", ct, err)
		}
	}
	m.Properties[PropContentType] = "Application/X-Kiln-Batch+Protobuf;v=1"
	if err := FromMessage(m, &got); err != nil {
		t.Fatalf("equivalent content type refused: %v", err)
	}
}

func TestAllocationsAndOwnership(t *testing.T) {
	b := everyKind()
	buf := AppendBatch(nil, b)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendBatch(buf[:0], b) }); allocs != 0 {
		t.Fatalf("AppendBatch allocated %v times per run", allocs)
	}
	// Decode copies the payload once, whatever the number of strings
	var got Batch
	raw := AppendBatch(nil, benchBatch())
	if allocs := testing.AllocsPerRun(100, func() {
		if err := Decode(raw, &got); err != nil {
			t.Fatal(err)
		}
	}); allocs != 1 {
		t.Fatalf("Decode allocated %v times per run, want 1", allocs)
	}
	// and the decoded batch does not alias the caller's buffer
	raw = AppendBatch(nil, b)
	if err := Decode(raw, &got); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 0
	}
	sameBatch(t, &got, b)
}

func FuzzDecode(f *testing.F) {
	f.Add(AppendBatch(nil, everyKind()))
	f.Add(AppendBatch(nil, &Batch{Source: "s", Seq: 1}))
	f.Add([]byte{0x22, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		if err := Decode(data, &b); err != nil {
			return
		}
		// what decodes re-encodes to something that decodes the same
		var again Batch
		if err := Decode(AppendBatch(nil, &b), &again); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		sameBatch(t, &again, &b)
	})
}

func BenchmarkAppendBatch(b *testing.B) {
	batch := benchBatch()
	buf := AppendBatch(nil, batch)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBatch(buf[:0], batch)
	}
}

func BenchmarkDecode(b *testing.B) {
	raw := AppendBatch(nil, benchBatch())
	var batch Batch
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(raw, &batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBatch is a typical poll result: 100 samples of mixed kinds.
func benchBatch() *Batch {
	b := &Batch{Source: "gw-hamburg-01", Tenant: "acme", Seq: 123456}
	for i := range 100 {
		v := []plc.Value{plc.FloatValue(plc.Real, float64(i)*1.5), plc.IntValue(plc.Int, int64(i)), plc.BoolValue(i%2 == 0), plc.FloatValue(plc.LReal, math.Pi*float64(i))}[i%4]
		b.Samples = append(b.Samples, plc.Sample{Tag: "line1.oven3.temperature" + string(rune('a'+i%26)), Value: v, Quality: plc.Good, Time: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	return b
}

func TestEveryPlcKindAndReasonHasAWireNumber(t *testing.T) {
	for k := plc.Bool; k <= plc.ByteString; k++ {
		if _, ok := kindWire[k]; !ok {
			t.Errorf("kind %s has no wire number", k)
		}
	}
	for r := plc.ReasonNotRead; r <= plc.ReasonStale; r++ {
		if _, ok := reasonWire[r]; !ok {
			t.Errorf("reason %s has no wire number", r)
		}
	}
	if len(kilnv1.Kind_name) != len(kindWire)+1 || len(kilnv1.Reason_name) != len(reasonWire) || len(kilnv1.Status_name) != len(statusWire) {
		t.Errorf("schema enums and mapping tables differ in size")
	}
}
