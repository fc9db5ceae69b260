package store

import (
	"errors"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
)

func TestCheckSamplesNamesTheBadField(t *testing.T) {
	ok := plc.Sample{Tag: "a", Time: time.Unix(1, 0)}
	cases := []struct {
		edit  func(*plc.Sample)
		field string
	}{
		{func(s *plc.Sample) { s.Tag = "" }, "Tag"},
		{func(s *plc.Sample) { s.Tag = string(make([]byte, 1025)) }, "Tag"},
		{func(s *plc.Sample) { s.Tag = "tab\there" }, "Tag"},
		{func(s *plc.Sample) { s.Time = time.Time{} }, "Time"},
		{func(s *plc.Sample) { s.Quality.Detail = "\xff" }, "Quality.Detail"},
	}
	for _, tc := range cases {
		batch := []plc.Sample{ok, ok}
		tc.edit(&batch[1])
		var se *SampleError
		if err := CheckSamples(batch); !errors.As(err, &se) || se.Index != 1 || se.Field != tc.field {
			t.Errorf("want a SampleError for sample 1, field %s; got %v", tc.field, err)
		}
	}
	if err := CheckSamples([]plc.Sample{ok, {Tag: "Grüße.Temp", Time: time.Unix(2, 0), Quality: plc.Bad(plc.ReasonCommFailure, "timeout")}}); err != nil {
		t.Errorf("valid batch: %v", err)
	}
}

func TestCheckTenant(t *testing.T) {
	for _, bad := range []string{"", "a\x00", "\xff", string(make([]byte, 256))} {
		if err := CheckTenant(bad); !errors.Is(err, ErrNoTenant) {
			t.Errorf("CheckTenant(%q) = %v", bad, err)
		}
	}
	if err := CheckTenant("acme"); err != nil {
		t.Error(err)
	}
}

func TestTruncateIsUTCMicroseconds(t *testing.T) {
	in := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("CET", 3600))
	got := Truncate(in)
	if got.Location() != time.UTC || got.Nanosecond() != 6000 || !got.Equal(in.Add(-789)) {
		t.Fatalf("Truncate(%v) = %v", in, got)
	}
}
