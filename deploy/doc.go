// Package deploy holds what it takes to run kiln in production, each
// artifact checked by a test so that none of it rots:
//
//   - prometheus/: alert rules (kiln-rules.yaml) and their unit tests,
//     run with `promtool test rules` from Debian's prometheus package.
//   - docker/: multi-stage Dockerfiles of the ingestor and the gateway
//     (a platform image follows with the platform binary), checked by the
//     separate module deploy/check with BuildKit's Dockerfile parser.
//   - systemd/: units of the gateway and the AI monitor, checked with
//     `systemd-analyze verify` and for their sandboxing settings.
//   - helm/kiln: the cloud chart; grafana/: dashboards of the gateway,
//     the cloud path and the AI monitor; both checked in deploy/check.
//   - the release: this package's tests run scripts/release in a
//     temporary clone and check the tag, the stamped binaries and
//     SHA256SUMS.
//
// The package has no code to import; `go test ./deploy` and
// `go test ./...` in deploy/check are its use.
package deploy
