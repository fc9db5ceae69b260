// Package buildinfo says which build of kiln is running: the module
// version, the commit and the build time, for every binary's -version
// flag, its first log line and its kiln_build_info metric.
//
// A release build sets the three values with the linker:
//
//	go build -ldflags "-X github.com/kiln-iot/kiln/buildinfo.version=v1.2.0 \
//	    -X github.com/kiln-iot/kiln/buildinfo.commit=$(git rev-parse HEAD) \
//	    -X github.com/kiln-iot/kiln/buildinfo.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./examples/edge-gateway
//
// Without them, Get falls back to what the Go toolchain recorded
// (runtime/debug.ReadBuildInfo: the main module's version and the VCS
// revision and time of the tree it was built from).
//
//	info := buildinfo.Get()
//	fmt.Println(info)                    // kiln v1.2.0 (commit 1a2b3c4d5e6f, built 2026-12-08T10:00:00Z, go1.26.8)
//	reg.MustRegister(buildinfo.Collector())
package buildinfo
