package plc

import "github.com/kiln-iot/kiln/config"

// DecodeOptions is the common part of a driver's ConfigFromDevice: it
// fills cfg, a pointer to the driver's Config that already holds the
// device's endpoint under the yaml key "endpoint", from opts by their
// yaml names (config.DecodeOptions), then calls validate. Every problem
// is a *config.FieldError at a path relative to the device: endpoint for
// the endpoint's, options.<key> for the others (decoding's first, unknown
// options sorted), joined; a field the decoder refused is not reported
// again by validate.
func DecodeOptions(opts map[string]string, cfg any, validate func() error) error {
	var p config.Problems
	decodeErr := config.DecodeOptions(opts, cfg, "endpoint")
	p.Nest("options", decodeErr)
	bad := map[string]bool{}
	for _, fe := range config.List(decodeErr) {
		bad[fe.Path] = true
	}
	for _, fe := range config.List(validate()) {
		switch {
		case fe.Path == "endpoint":
			p.Nest("", fe)
		case !bad[fe.Path]:
			p.Nest("options", fe)
		}
	}
	return p.Err()
}
