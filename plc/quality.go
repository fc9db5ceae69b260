package plc

import "strconv"

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

// Quality is the quality of one sample: a status, why it is not good, and
// the device's own code and its name when the device gave one (an S7 item
// return code, an OPC UA status code). Quality is comparable with ==.
// The zero Quality is Bad/not read.
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
