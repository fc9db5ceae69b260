package plc

import "testing"

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
