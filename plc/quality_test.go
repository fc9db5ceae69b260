package plc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestZeroQualityIsBadNotRead(t *testing.T) {
	var q Quality
	if q.IsGood() {
		t.Fatal("zero Quality is good")
	}
	if q != Bad(ReasonNotRead, "") {
		t.Fatalf("zero Quality %+v != Bad(ReasonNotRead)", q)
	}
	if got := q.String(); got != "bad (not read)" {
		t.Fatalf("zero Quality String = %q", got)
	}
}

func TestQualityString(t *testing.T) {
	tests := []struct {
		q    Quality
		want string
	}{
		{Good, "good"},
		{Bad(ReasonCommFailure, "timeout"), "bad (comm failure: timeout)"},
		{Quality{Status: StatusBad, Reason: ReasonDeviceError, Code: 0x0a, Detail: "object does not exist"}, "bad (device error: object does not exist, code 0xa)"},
		{Quality{Status: StatusUncertain, Reason: ReasonStale}, "uncertain (stale)"},
		{Quality{Status: StatusBad, Reason: ReasonOutOfService}, "bad (out of service)"},
		{Quality{Status: StatusBad, Reason: ReasonConfigError}, "bad (config error)"},
		{Quality{Status: StatusBad, Reason: Reason(77)}, "bad (reason(77))"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{StatusBad: "bad", StatusUncertain: "uncertain", StatusGood: "good", Status(9): "bad"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestQualityMarshalsAsText(t *testing.T) {
	q := Quality{Status: StatusUncertain, Reason: ReasonCommFailure, Code: 7, Detail: "timeout"}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Status":"uncertain","Reason":"comm failure","Code":7,"Detail":"timeout"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back Quality
	if err := json.Unmarshal(b, &back); err != nil || back != q {
		t.Fatalf("round trip = %+v, %v; want %+v", back, err, q)
	}
	for s := StatusBad; s <= StatusGood; s++ {
		var got Status
		if b, _ := s.MarshalText(); got.UnmarshalText(b) != nil || got != s {
			t.Errorf("status %v does not round-trip: %q → %v", s, b, got)
		}
	}
	for r := Reason(0); r < 255; r++ {
		var got Reason
		if b, _ := r.MarshalText(); got.UnmarshalText(b) != nil || got != r {
			t.Errorf("reason %d does not round-trip: %q → %v", r, b, got)
		}
	}
}

func TestQualityUnmarshalText(t *testing.T) {
	var s Status
	if err := s.UnmarshalText([]byte("GOOD")); err != nil || s != StatusGood {
		t.Errorf("GOOD → %v, %v", s, err)
	}
	if err := s.UnmarshalText([]byte("2")); err == nil || !strings.Contains(err.Error(), `"2"`) {
		t.Errorf("status 2 as text: err = %v, want one naming the text", err)
	}
	var r Reason
	if err := r.UnmarshalText([]byte("Comm_Failure")); err != nil || r != ReasonCommFailure {
		t.Errorf("Comm_Failure → %v, %v", r, err)
	}
	for _, bad := range []string{"", "broken", "reason(256)", "reason(-1)", "reason(3"} {
		if err := r.UnmarshalText([]byte(bad)); err == nil || !strings.Contains(err.Error(), "comm failure") {
			t.Errorf("reason %q: err = %v, want one listing the reasons", bad, err)
		}
	}
}

func FuzzQualityText(f *testing.F) {
	for _, s := range []string{"good", "Uncertain", "bad", "comm failure", "comm_failure", "not read", "reason(77)", "reason(", "reason(300)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var s Status
		if err := s.UnmarshalText([]byte(text)); err == nil {
			if b, _ := s.MarshalText(); !strings.EqualFold(string(b), text) {
				t.Fatalf("status %q → %v → %q", text, s, b)
			}
		} else if !strings.Contains(err.Error(), "want good, uncertain or bad") {
			t.Fatalf("status %q: unhelpful error %v", text, err)
		}
		var r Reason
		if err := r.UnmarshalText([]byte(text)); err == nil {
			var back Reason
			if b, _ := r.MarshalText(); back.UnmarshalText(b) != nil || back != r {
				t.Fatalf("reason %q → %d → %q does not read back", text, r, b)
			}
		} else if !strings.Contains(err.Error(), "want one of") {
			t.Fatalf("reason %q: unhelpful error %v", text, err)
		}
	})
}
