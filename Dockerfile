# Build the manager binary
FROM golang:1.26.11 AS builder
ARG TARGETOS
ARG TARGETARCH
# Linked into the binary (internal/version); make docker-build and
# docker-buildx pass them from git.
ARG VERSION=dev
ARG REVISION=unknown

WORKDIR /workspace
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

COPY main.go webhook.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags="-s -w -X github.com/regcred/regcred-operator/internal/version.Version=${VERSION} -X github.com/regcred/regcred-operator/internal/version.Revision=${REVISION}" \
    -o manager .

# distroless: no shell, no package manager; runs as nonroot (65532)
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG REVISION=unknown
# The same labels as `make image` (hack/node image) reads from here.
LABEL org.opencontainers.image.title="regcred-operator" \
      org.opencontainers.image.description="Copies a registry credential into every selected namespace, its ServiceAccounts and Pods" \
      org.opencontainers.image.source="https://github.com/regcred/regcred-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
