# syntax=docker/dockerfile:1
# Image of the cloud ingestor (Pulsar → PostgreSQL).
# Build from the repository's root, stamping the build as scripts/release
# does:
#
#   docker build -f deploy/docker/ingestor.Dockerfile \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(TZ=UTC git show -s --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD) \
#     -t kiln/cloud-ingestor:$(git describe --tags --always) .
#
# The image runs as a non-root user on a read-only root filesystem: the
# configuration is mounted at /etc/kiln/ingestor.yaml and the only writable
# path is the /var/lib/kiln volume. deploy/check tests these rules.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG DATE=1970-01-01T00:00:00Z
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "$(scripts/ldflags "$VERSION" "$COMMIT" "$DATE")" -o /out/cloud-ingestor ./examples/cloud-ingestor
# The data volume's mount point, owned by the runtime user so a new volume
# starts writable.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cloud-ingestor /usr/local/bin/cloud-ingestor
COPY --from=build --chown=65532:65532 /out/data /var/lib/kiln
USER 65532:65532
WORKDIR /var/lib/kiln
VOLUME ["/var/lib/kiln"]
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/cloud-ingestor", "-healthcheck", "-config", "/etc/kiln/ingestor.yaml"]
ENTRYPOINT ["/usr/local/bin/cloud-ingestor"]
CMD ["-config", "/etc/kiln/ingestor.yaml"]
