package command

import (
	"encoding/json"
	"errors"

	"github.com/kiln-iot/kiln/ha"
	"github.com/kiln-iot/kiln/plc"
)

// Refusals made before a write reaches plc.Writer's checks, by a gateway
// or by a service that checks writes before it sends them. CodeOf
// classifies them.
var (
	// ErrUnauthorized refuses a request without a valid token, or for
	// another tenant.
	ErrUnauthorized = errors.New("command: missing or invalid token")
	// ErrExpired refuses a command older than the receiver accepts.
	ErrExpired = errors.New("command: expired")
	// ErrAuditUnavailable refuses a write, before it reaches the device,
	// while its audit record could not be kept.
	ErrAuditUnavailable = errors.New("command: audit trail unavailable")
)

// CodeOf returns the result code of a write's outcome, as Audit.Code
// carries it: CodeOK for nil; the refusals of this package; plc's
// ErrUnknownTag, ErrReadOnly, ha's ErrFenced, *ConversionError (and JSON that does not
// parse), *LimitError and ErrVerifyMismatch; CodeDeviceError for any
// other error (the device refused or could not be reached).
func CodeOf(err error) string {
	var (
		ce *plc.ConversionError
		le *plc.LimitError
		se *json.SyntaxError
	)
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, ErrUnauthorized):
		return CodeUnauthorized
	case errors.Is(err, ErrExpired):
		return CodeExpired
	case errors.Is(err, ErrAuditUnavailable):
		return CodeAuditUnavailable
	case errors.Is(err, ha.ErrFenced):
		return CodeFenced
	case errors.Is(err, plc.ErrUnknownTag):
		return CodeUnknownTag
	case errors.Is(err, plc.ErrReadOnly):
		return CodeReadOnly
	case errors.As(err, &ce), errors.As(err, &se):
		return CodeBadValue
	case errors.As(err, &le):
		return CodeOutOfLimits
	case errors.Is(err, plc.ErrVerifyMismatch):
		return CodeVerifyFailed
	}
	return CodeDeviceError
}
