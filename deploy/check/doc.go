// Package check tests kiln's deployment artifacts with tools that stay out
// of kiln's own go.mod: the Dockerfiles under deploy/docker are parsed
// with BuildKit's Dockerfile parser and checked against the house rules
// (multi-stage, static binaries built as scripts/release builds them,
// distroless base, non-root user, a HEALTHCHECK), and the binaries they
// copy are built with the same command.
//
// It has no code to import; `go test ./...` in deploy/check is its use.
package check
