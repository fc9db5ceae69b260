// Package gatewayconf is the edge gateway's configuration: a YAML file
// whose every field has a documented default (Reference), command-line
// flags that override it, and errors that name file, line and field,
// every problem of a file in one run:
//
//	cfg, err := gatewayconf.Load("gateway.yaml")
//	for _, e := range config.List(err) {
//		fmt.Println(e) // gateway.yaml:7: groups[0].rate: "fast" is not a duration such as 500ms
//	}
//
// It lives outside the gateway's own directory so that tagctl can read
// a device of the gateway's file (-config gateway.yaml -device plc1)
// with the very same decoding and checks.
//
// Config.MemoryLimitFor decides the Go soft memory limit the gateway sets:
// memory_limit if given, else GOMEMLIMIT if set, else AutoMemoryLimit of
// the tag count (24 MiB + 1,000 bytes per tag, at least 64 MiB);
// memory_limit: -1 (MemoryLimitOff) turns it off.
package gatewayconf
