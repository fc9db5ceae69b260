// Package config is the edge gateway's configuration: a YAML file whose
// every field has a documented default (Reference), command-line flags
// that override it, and errors that name file, line and field.
package config
