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
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
