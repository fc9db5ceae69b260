// Package deploy holds what it takes to run kiln in production, each
// artifact checked by this package's tests so that none of it rots:
//
//   - prometheus/: alert rules (kiln-rules.yaml) and their unit tests,
//     run with `promtool test rules` from Debian's prometheus package.
//
// The package has no code to import; `go test ./deploy` is its use.
package deploy
