// Package check tests kiln's deployment artifacts with libraries that
// stay out of kiln's own go.mod:
//
//   - the Dockerfiles under deploy/docker, parsed with BuildKit's parser
//     and checked against the house rules (multi-stage, static binaries
//     built as scripts/release builds them, distroless base, non-root
//     user, a HEALTHCHECK); their go build is run here too;
//   - the Helm chart deploy/helm/kiln, rendered with Helm's library for
//     its defaults and deploy/examples/helm-production-values.yaml, every
//     object decoded strictly into k8s.io/api types and checked (non-root,
//     read-only root, probes on /healthz, requests, release tags, no
//     secrets in ConfigMaps, at least two ingestors, a PDB);
//   - the Grafana dashboards deploy/grafana/*.json and the alert rules:
//     every PromQL expression parses (Prometheus's parser) and names only
//     metrics the binaries export, scraped from the running binaries.
//
// It has no code to import; `go test ./...` in deploy/check is its use.
package check
