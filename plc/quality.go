package plc

import (
	"fmt"
	"strconv"
	"strings"
)

// Status is the coarse quality of a sample, as in OPC UA.
type Status uint8

// The zero Status is Bad, so a sample that was never read cannot pass for
// a good one.
const (
	StatusBad Status = iota
	StatusUncertain
	StatusGood
)

// String returns "bad", "uncertain" or "good".
func (s Status) String() string {
	switch s {
	case StatusGood:
		return "good"
	case StatusUncertain:
		return "uncertain"
	}
	return "bad"
}

// MarshalText encodes s as its String, so JSON and YAML carry "good",
// "uncertain" or "bad" rather than a number. A value outside the three
// statuses encodes as "bad", as String says.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "good", "uncertain" or "bad", in any case.
func (s *Status) UnmarshalText(b []byte) error {
	for _, c := range []Status{StatusGood, StatusUncertain, StatusBad} {
		if strings.EqualFold(string(b), c.String()) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("plc: bad quality status %q: want good, uncertain or bad", b)
}

// Reason says why a sample is not good.
type Reason uint8

// Reasons for Bad or Uncertain quality. ReasonNotRead, the zero Reason, is
// what a sample carries before anything was read, so the zero Quality is
// Bad/not read.
const (
	ReasonNotRead      Reason = iota // no read has produced a value yet
	ReasonNone                       // good
	ReasonCommFailure                // the device could not be reached
	ReasonConfigError                // the tag's address or type is wrong for the device
	ReasonOutOfService               // the device or tag is disabled
	ReasonDeviceError                // the device answered with an error code (see Quality.Code)
	ReasonStale                      // the last good value is older than it should be
)

var reasonNames = map[Reason]string{
	ReasonNone:         "none",
	ReasonNotRead:      "not read",
	ReasonCommFailure:  "comm failure",
	ReasonConfigError:  "config error",
	ReasonOutOfService: "out of service",
	ReasonDeviceError:  "device error",
	ReasonStale:        "stale",
}

// String returns the reason in words.
func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// MarshalText encodes r as its String ("comm failure"), so JSON and YAML
// carry words rather than a number; a reason this version does not know
// encodes as "reason(N)", which UnmarshalText reads back.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a reason as String writes it, in any case and
// with '_' accepted for a space ("comm_failure"), or "reason(N)".
func (r *Reason) UnmarshalText(b []byte) error {
	text := strings.ReplaceAll(strings.ToLower(string(b)), "_", " ")
	for c, n := range reasonNames {
		if text == n {
			*r = c
			return nil
		}
	}
	if num, ok := strings.CutPrefix(text, "reason("); ok {
		if num, ok = strings.CutSuffix(num, ")"); ok {
			if n, err := strconv.ParseUint(num, 10, 8); err == nil {
				*r = Reason(n)
				return nil
			}
		}
	}
	return fmt.Errorf("plc: bad quality reason %q: want one of %s", b, strings.Join(reasonList(), ", "))
}

// reasonList returns the reasons' names in constant order.
func reasonList() []string {
	out := make([]string, 0, len(reasonNames))
	for r := Reason(0); int(r) < len(reasonNames); r++ {
		out = append(out, reasonNames[r])
	}
	return out
}

// Quality is the quality of one sample: a status, why it is not good, and
// the device's own code and its name when the device gave one (an S7 item
// return code, an OPC UA status code). Quality is comparable with ==.
// The zero Quality is Bad/not read. In JSON and YAML, Status and Reason
// are words: {"Status":"bad","Reason":"comm failure","Code":0,"Detail":""}.
type Quality struct {
	Status Status
	Reason Reason
	// Code is the device's error or status code, 0 when there is none.
	Code uint32
	// Detail names Code or otherwise explains the reason, e.g.
	// "BadNodeIdUnknown" or "object does not exist". Drivers use constant
	// strings so that building a Quality does not allocate.
	Detail string
}

// Good is the quality of a value read successfully.
var Good = Quality{Status: StatusGood, Reason: ReasonNone}

// Bad returns a Bad quality with the given reason and detail.
func Bad(r Reason, detail string) Quality {
	return Quality{Status: StatusBad, Reason: r, Detail: detail}
}

// IsGood reports whether q is Good.
func (q Quality) IsGood() bool { return q.Status == StatusGood }

// String formats the quality: "good", or "bad (comm failure: timeout)".
func (q Quality) String() string {
	if q.Status == StatusGood && q.Detail == "" {
		return "good"
	}
	s := q.Status.String() + " (" + q.Reason.String()
	if q.Detail != "" {
		s += ": " + q.Detail
	}
	if q.Code != 0 {
		s += ", code 0x" + strconv.FormatUint(uint64(q.Code), 16)
	}
	return s + ")"
}
