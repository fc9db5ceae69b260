// Package config is the edge gateway's configuration: a YAML file whose
// every field has a documented default (Reference), command-line flags
// that override it, and errors that name file, line and field.
//
// Config.MemoryLimitFor decides the Go soft memory limit the gateway sets:
// memory_limit if given, else GOMEMLIMIT if set, else AutoMemoryLimit of
// the tag count (24 MiB + 1,000 bytes per tag, at least 64 MiB);
// memory_limit: -1 (MemoryLimitOff) turns it off.
package config
