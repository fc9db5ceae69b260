package opcua

import (
	"regexp"
	"strings"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/plc"
)

// specName finds gopcua's "ID" where the specification writes "Id".
var specName = regexp.MustCompile(`ID([A-Z]|$)`)

// statusNames maps each known status code (without its info bits) to its
// name without the "Status" prefix, built once so Quality needs no
// allocation.
var statusNames = func() map[ua.StatusCode]string {
	m := make(map[ua.StatusCode]string, len(ua.StatusCodes))
	for c, d := range ua.StatusCodes {
		m[c] = specName.ReplaceAllString(strings.TrimPrefix(d.Name, "Status"), "Id$1")
	}
	m[ua.StatusOK] = "Good"
	return m
}()

// StatusName returns the name of an OPC UA status code as the
// specification spells it ("BadNodeIdUnknown", where gopcua writes
// StatusBadNodeIDUnknown), or its hex value when unknown.
func StatusName(c ua.StatusCode) string {
	if n, ok := statusNames[c&0xFFFF0000]; ok {
		return n
	}
	return c.Error()
}

// IsBad reports whether c has Bad severity.
func IsBad(c ua.StatusCode) bool { return c&0x80000000 != 0 }

// IsUncertain reports whether c has Uncertain severity.
func IsUncertain(c ua.StatusCode) bool { return c&0xC0000000 == 0x40000000 }

// commCodes are the codes that mean "the server could not be reached"
// rather than "the server said no".
var commCodes = map[ua.StatusCode]bool{
	ua.StatusBadCommunicationError:        true,
	ua.StatusBadNotConnected:              true,
	ua.StatusBadServerNotConnected:        true,
	ua.StatusBadConnectionClosed:          true,
	ua.StatusBadTimeout:                   true,
	ua.StatusBadShutdown:                  true,
	ua.StatusBadSecureChannelClosed:       true,
	ua.StatusBadSecureChannelIDInvalid:    true,
	ua.StatusBadSessionClosed:             true,
	ua.StatusBadSessionIDInvalid:          true,
	ua.StatusBadNoCommunication:           true,
	ua.StatusBadWaitingForInitialData:     true,
	ua.StatusBadServerHalted:              true,
	ua.StatusBadSubscriptionIDInvalid:     true,
	ua.StatusBadTooManyPublishRequests:    true,
	ua.StatusBadRequestTimeout:            true,
	ua.StatusBadSessionNotActivated:       true,
	ua.StatusBadConnectionRejected:        true,
	ua.StatusBadDisconnect:                true,
	ua.StatusBadSecureChannelTokenUnknown: true,
}

// configCodes are the codes that mean the tag's address or type is wrong.
var configCodes = map[ua.StatusCode]bool{
	ua.StatusBadNodeIDUnknown:      true,
	ua.StatusBadNodeIDInvalid:      true,
	ua.StatusBadAttributeIDInvalid: true,
	ua.StatusBadTypeMismatch:       true,
	ua.StatusBadBrowseNameInvalid:  true,
	ua.StatusBadNoMatch:            true,
}

// Quality maps an OPC UA status code onto a plc.Quality: the severity
// bits give Good, Uncertain or Bad; Code is the status code and Detail
// its name. Bad codes that mean the server is unreachable give
// ReasonCommFailure, unknown nodes and type mismatches ReasonConfigError,
// BadOutOfService ReasonOutOfService, and everything else
// ReasonDeviceError.
func Quality(c ua.StatusCode) plc.Quality {
	if !IsBad(c) && !IsUncertain(c) {
		if c&0xFFFF0000 == 0 {
			return plc.Good
		}
		return plc.Quality{Status: plc.StatusGood, Reason: plc.ReasonNone, Code: uint32(c), Detail: StatusName(c)}
	}
	q := plc.Quality{Status: plc.StatusBad, Reason: plc.ReasonDeviceError, Code: uint32(c), Detail: StatusName(c)}
	base := c & 0xFFFF0000
	switch {
	case IsUncertain(c):
		q.Status = plc.StatusUncertain
	case commCodes[base]:
		q.Reason = plc.ReasonCommFailure
	case configCodes[base]:
		q.Reason = plc.ReasonConfigError
	case base == ua.StatusBadOutOfService:
		q.Reason = plc.ReasonOutOfService
	}
	return q
}

// commFailure is the quality of every subscribed or read tag while the
// server is unreachable.
var commFailure = Quality(ua.StatusBadNotConnected)
