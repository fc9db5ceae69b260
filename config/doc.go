// Package config is the one shape of a bad setting across kiln.
//
// Every library Config's Validate, and every loader of a configuration
// file, reports problems as *FieldError values: the YAML path of the bad
// field ("transport.pulsar.retry.multiplier", "devices[1].options.rack"),
// what is wrong with it in words a plant engineer reads, and, once a
// loader has located it, the file and line. Validate collects every
// problem it finds, not just the first, joined with errors.Join; List
// takes them apart again.
//
// A service that nests a library's Config inside its own prefixes the
// library's errors with the key it gave that section, instead of
// translating each library's messages:
//
//	var p config.Problems
//	p.Nest("spool", cfg.Spool.Validate())
//	p.Nest("transport.pulsar", cfg.Pulsar.Validate())
//	if cfg.HTTP.Listen == "" {
//		p.Add("http.listen", "is required")
//	}
//	return p.Err()
//
// Every *FieldError matches ErrInvalid under errors.Is.
package config
