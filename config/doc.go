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
//
// The two decoders that produce such problems live here too, so that the
// words for a value of the wrong kind (`"x" is not a whole number`,
// `"fast" is not a duration such as 500ms`) are the same in a file and
// in a device's option map, and because both are driven by the same
// thing Validate paths are: the Config's yaml tags.
//
// DecodeYAML decodes a configuration file into a Config and reports
// every syntax, unknown-field and wrong-kind problem, located, in one
// pass; its Document then locates what Validate finds:
//
//	doc, err := config.DecodeYAML(file, data, &cfg)
//	err = errors.Join(err, doc.Locate(cfg.Validate()))
//	if err != nil {
//		log.Fatalf("%s in %s:\n%v", config.Count(err), file, err)
//	}
//
// DecodeOptions fills a driver's Config from a device's options (rack:
// "0", retry.multiplier: "1.5"), unknown keys refused in sorted order.
package config
