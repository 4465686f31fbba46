# regcred-operator Makefile (kubebuilder go/v3 layout).

IMG ?= regcred-operator:latest
# Version and source revision linked into the binary (internal/version):
# `regcred-operator --version`, the start log line and regcred_build_info.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/regcred/regcred-operator/internal/version
LDFLAGS ?= -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION)
CONTAINER_TOOL ?= docker
# Platforms of the multi-arch image docker-buildx builds and pushes.
PLATFORMS ?= linux/amd64,linux/arm64
K8S_VERSION ?= v1.37.2
GOOS ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)
LOCALBIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(K8S_VERSION)-$(GOOS)-$(GOARCH)
export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
CONTROLLER_GEN ?= go tool controller-gen
# Helm runs as a Go tool of its own module (hack/tools/go.mod), so its
# dependencies stay out of the operator's go.mod; run from the repository root.
HELM ?= go tool -modfile=$(CURDIR)/hack/tools/go.mod helm
GO_TEST_FLAGS ?= -race -count=1
# govulncheck reads the Go vulnerability database from the golang.org/x/vulndb
# module (its data/osv folder, one OSV file per entry) fetched through the Go
# module proxy, so it runs where vuln.go.dev cannot be reached. Bump VULNDB to
# the newest pseudo-version (go list -m golang.org/x/vulndb@latest) to refresh.
GOVULNCHECK ?= go run golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB ?= v0.0.0-20261105234957-e22db6528018
ARGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD, RBAC and webhook manifests (and the chart's copy of the CRD).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	cp config/crd/bases/registry.regcred.dev_registrycredentials.yaml charts/regcred-operator/files/crds/

.PHONY: generate
generate: ## Generate DeepCopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: manifests generate ## Fail if generated files, formatting or go.mod drift from what is committed.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go mod tidy
	go vet ./...
	@git diff --exit-code -- . || { echo "generated files or go.mod are out of date: run 'make manifests generate' and 'go mod tidy' and commit"; exit 1; }
	$(MAKE) vuln

.PHONY: vuln
vuln: ## govulncheck over every package, against the vulnerability database pinned in VULNDB.
	@dir=$$(go mod download -json golang.org/x/vulndb@$(VULNDB) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
	  test -d "$$dir/data/osv" || { echo "golang.org/x/vulndb@$(VULNDB) has no data/osv"; exit 1; }; \
	  echo "govulncheck: database golang.org/x/vulndb@$(VULNDB) ($$(ls $$dir/data/osv | wc -l) entries)"; \
	  $(GOVULNCHECK) -db "file://$$dir/data/osv" ./...

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd, kube-controller-manager and kubectl from source into bin/k8s (skipped when present).
	hack/build-envtest-assets.sh --with-kubectl --with-controller-manager $(ENVTEST_ASSETS)

# The node's kubelet and kube-proxy: v1.35, the last kubelet release that runs
# containerd 1.x (Debian's 1.6.20), within the kubelet's three-minor skew of the
# v1.37 control plane (docs/design.md, "A real node").
NODE_K8S_VERSION ?= v1.35.4
NODE_ASSETS ?= $(LOCALBIN)/k8s/node-$(NODE_K8S_VERSION)-$(GOOS)-$(GOARCH)

.PHONY: node-assets
node-assets: envtest-assets ## Build kube-scheduler (control plane version) and the node's kubelet and kube-proxy from source into bin/k8s (skipped when present).
	hack/build-envtest-assets.sh --bins kube-scheduler $(ENVTEST_ASSETS)
	hack/build-envtest-assets.sh --k8s-version $(NODE_K8S_VERSION) --bins kubelet,kube-proxy $(NODE_ASSETS)

# The one-node cluster of hack/node (docs/design.md, "A real node"), its state
# and KUBECONFIG in bin/node.
NODE_BIN ?= $(LOCALBIN)/hack-node
HELM_BIN ?= $(LOCALBIN)/helm
# The operator image make image builds (no Docker) and pushes to the node's
# open registry; e2e installs E2E_TAG, then upgrades to E2E_UPGRADE_TAG.
IMAGE_REPO ?= localhost:5001/regcred-operator
IMAGE_TAG ?= dev
E2E_TAG ?= e2e-1
E2E_UPGRADE_TAG ?= e2e-2

.PHONY: node-tool
node-tool:
	go build -o $(NODE_BIN) ./hack/node

.PHONY: node
node: node-assets node-tool ## Run a one-node cluster here (kubelet, containerd, CNI, a private registry) until Ctrl-C; prints its KUBECONFIG.
	$(NODE_BIN) up

.PHONY: node-up
node-up: node-assets node-tool ## Start the one-node cluster in the background (stop it with make node-down).
	$(NODE_BIN) up --detach

.PHONY: node-down
node-down: ## Stop the background node and undo its changes to the host.
	@if [ -x $(NODE_BIN) ]; then $(NODE_BIN) down; else echo "no node tool built"; fi

# image: the manager built as the Dockerfile builds it (static, trimmed, the
# version linked in) onto an empty base with the Dockerfile's user, entrypoint
# and labels, pushed to IMAGE_REPO:IMAGE_TAG (the node's registry by default).
.PHONY: image
image: manifests generate node-tool ## Build the operator image without a Docker engine and push it to IMAGE_REPO:IMAGE_TAG (default: the node's registry).
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(LOCALBIN)/image/manager .
	$(NODE_BIN) image --binary $(LOCALBIN)/image/manager --path /manager --name $(IMAGE_REPO):$(IMAGE_TAG) \
		--labels-from-dockerfile Dockerfile --label org.opencontainers.image.version=$(VERSION) --label org.opencontainers.image.revision=$(REVISION)

.PHONY: helm-bin
helm-bin:
	go build -modfile=$(CURDIR)/hack/tools/go.mod -o $(HELM_BIN) helm.sh/helm/v4/cmd/helm

# e2e starts the node (unless one runs), pushes the image under two tags,
# renders dist/install.yaml with it, runs hack/e2e and stops the node it started.
.PHONY: e2e
e2e: node-assets node-tool helm-bin ## On the one-node cluster: the chart and the bundle installed with our image, the kubelet pulling with our Secrets (one line per check).
	@started=; if ! $(NODE_BIN) status >/dev/null 2>&1; then $(NODE_BIN) up --detach; started=1; fi; \
	trap 'if [ -n "$$started" ]; then $(NODE_BIN) down; fi' EXIT; \
	$(MAKE) --no-print-directory image IMAGE_TAG=$(E2E_TAG) && \
	$(MAKE) --no-print-directory image IMAGE_TAG=$(E2E_UPGRADE_TAG) VERSION=$(VERSION)-upgrade && \
	$(MAKE) --no-print-directory build-installer IMG=$(IMAGE_REPO):$(E2E_TAG) && \
	go run ./hack/e2e --helm $(HELM_BIN) --image-repository $(IMAGE_REPO) --tag $(E2E_TAG) --upgrade-tag $(E2E_UPGRADE_TAG) $(ARGS)

.PHONY: test
test: manifests generate envtest-assets ## Run unit and envtest suites (real API server) with -race.
	go test $(GO_TEST_FLAGS) ./... 2>&1 | tee $(LOCALBIN)/test.log
	@grep -E '^(ok|FAIL|---)' $(LOCALBIN)/test.log | grep -c '^ok' | xargs -I{} echo "packages ok: {}"

.PHONY: test-install
test-install: manifests generate envtest-assets ## Verbose run of the install, health and monitoring checks (chart and kustomize dry-run applies, kstatus and Argo CD per case, promlint), for CI's log.
	go test $(GO_TEST_FLAGS) -v ./internal/installtest/ 2>&1 | grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok)|_test.go:[0-9]+:'
	go test $(GO_TEST_FLAGS) -v -run 'TestHealth|TestArgoHealth|TestMetrics' ./controllers/ 2>&1 | grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok)|_test.go:[0-9]+:'

.PHONY: test-faults
test-faults: manifests generate envtest-assets ## Fault suite: the operator binary under kube-apiserver restarts, SIGKILL, leader failover, concurrent writers, etcd pauses and deletions.
	go test -tags faults $(GO_TEST_FLAGS) -v -timeout 40m ./internal/faults/ 2>&1 | tee $(LOCALBIN)/faults.log
	@grep -E '^\s+\S+_test.go:[0-9]+: (CONVERGED|FAILOVER|graceful|RESTARTED)' $(LOCALBIN)/faults.log || true

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s; a count such as 50000x avoids Go 1.26's deadline flake, golang/go#75804).
	@for p in ./internal/registry/ ./internal/selection/; do \
		for t in $$(go test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			go test $$p -run='^$$' -fuzz="^$$t$$" -fuzztime=$${FUZZTIME:-30s} || exit 1; done; done

.PHONY: bench
bench: envtest-assets build ## Benchmark against a real control plane and print a table (ARGS=-short for a quick run).
	go run ./hack/bench $(ARGS)

##@ Build

.PHONY: build
build: manifests generate ## Build the manager binary (VERSION and REVISION linked in).
	go build -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate ## Run the manager against the cluster in $$KUBECONFIG (without the webhook, which the cluster could not reach).
	go run . --source-namespaces=$${SOURCE_NAMESPACES:-regcred-system} --enable-pod-webhook=false

.PHONY: demo
demo: envtest-assets build ## Start a local control plane, install the CRD, create a demo and run the operator in the foreground.
	go run ./hack/demo

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image IMG (after docker-build).
	$(CONTAINER_TOOL) push $(IMG)

# docker-buildx cross-compiles in a builder stage on the build machine's own
# platform (a copy of the Dockerfile with --platform=${BUILDPLATFORM} on its
# first FROM, as kubebuilder's scaffold does), in a temporary builder that is
# removed again, even when the build fails.
.PHONY: docker-buildx
docker-buildx: ## Build and push a multi-arch image (IMG, PLATFORMS) with docker buildx (needs a Docker engine and a registry).
	sed -e '1 s/\(^FROM\)/FROM --platform=\$$\{BUILDPLATFORM\}/; t' -e ' 1,// s//FROM --platform=\$$\{BUILDPLATFORM\}/' Dockerfile > Dockerfile.cross
	- $(CONTAINER_TOOL) buildx create --name regcred-operator-builder
	rc=0; $(CONTAINER_TOOL) buildx build --builder regcred-operator-builder --push --platform=$(PLATFORMS) \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --tag $(IMG) -f Dockerfile.cross . || rc=$$?; \
	  $(CONTAINER_TOOL) buildx rm regcred-operator-builder || true; rm -f Dockerfile.cross; exit $$rc

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster in $$KUBECONFIG.
	kubectl apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster.
	kubectl delete --ignore-not-found -k config/crd

# The kubectl that renders the kustomizations: the one built beside the
# control plane when it is there (its kustomize is the one the tests check),
# else the one in PATH. deploy and undeploy talk to the cluster with `kubectl`.
KUSTOMIZE ?= $(if $(wildcard $(ENVTEST_ASSETS)/kubectl),$(ENVTEST_ASSETS)/kubectl,kubectl) kustomize
# The image config/manager/kustomization.yaml installs (the release's). deploy
# and build-installer replace it with IMG only when IMG is given (on the
# command line or in the environment), not with the default IMG above.
INSTALL_IMAGE_NAME := ghcr.io/regcred/regcred-operator
INSTALL_IMG = $(if $(filter command line environment environment override,$(origin IMG)),$(IMG))
DIST ?= dist
UNDEPLOY_TIMEOUT ?= 5m

# render-install prints config/default, with the image INSTALL_IMG when set,
# as `kustomize edit set image` would set it (IMG: name, name:tag,
# name@digest or name:tag@digest), through a temporary overlay in bin/: the
# checked-in kustomizations are left as they are.
define render-install
mkdir -p bin; dir=$$(mktemp -d bin/kustomize-img.XXXXXX); trap 'rm -rf "$$dir"' EXIT; \
img='$(INSTALL_IMG)'; name=$${img%@*}; tag=; digest=; \
if [ "$$name" != "$$img" ]; then digest=$${img#*@}; fi; \
case "$${name##*/}" in *:*) tag=$${name##*:}; name=$${name%:*};; esac; \
{ printf 'resources:\n- ../../config/default\n'; \
  if [ -n "$$img" ]; then printf 'images:\n- name: %s\n  newName: "%s"\n' '$(INSTALL_IMAGE_NAME)' "$$name"; \
    if [ -n "$$tag" ]; then printf '  newTag: "%s"\n' "$$tag"; fi; \
    if [ -n "$$digest" ]; then printf '  digest: "%s"\n' "$$digest"; fi; fi; } > "$$dir/kustomization.yaml"; \
$(KUSTOMIZE) "$$dir"
endef

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml (DIST): everything config/default installs, with image IMG when given.
	mkdir -p $(DIST)
	@echo "rendering config/default$(if $(INSTALL_IMG), with image $(INSTALL_IMG)) into $(DIST)/install.yaml"
	@$(render-install) > $(DIST)/install.yaml.tmp && mv $(DIST)/install.yaml.tmp $(DIST)/install.yaml
	@echo "$(DIST)/install.yaml: $$(grep -c '^kind:' $(DIST)/install.yaml) objects, $$(grep -m1 'image:' $(DIST)/install.yaml | sed 's/^ *//')"

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default) to the cluster in $$KUBECONFIG, with image IMG when given.
	@echo "applying config/default$(if $(INSTALL_IMG), with image $(INSTALL_IMG))"
	@$(render-install) | kubectl apply -f -

# undeploy removes the operator in this order:
# 1. every RegistryCredential, waiting until they are gone (at most
#    UNDEPLOY_TIMEOUT): their finalizer is the operator's clean-up of the copies
#    and ServiceAccount entries, so it needs the operator still running. Skipped
#    when the CRD is not installed; when it times out, nothing else is deleted.
# 2. everything config/default installs (Deployment, webhooks, RBAC, CRD,
#    namespace).
.PHONY: undeploy
undeploy: ## Remove the operator: its RegistryCredentials first (and wait for their clean-up), then the rest.
	crd=$$(kubectl get crd registrycredentials.registry.regcred.dev --ignore-not-found -o name); \
	if [ -n "$$crd" ]; then kubectl delete registrycredentials --all --wait --timeout=$(UNDEPLOY_TIMEOUT) || { \
	  echo "RegistryCredentials are still there (kubectl get registrycredentials): their finalizer needs the operator running; nothing else was deleted" >&2; exit 1; }; fi
	$(KUSTOMIZE) config/default | kubectl delete --ignore-not-found -f -

##@ Workflows

# actionlint checks the workflows (expressions, action inputs, the shell of
# run: steps through shellcheck when it is installed).
ACTIONLINT ?= go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

.PHONY: lint-workflows
lint-workflows: ## Check .github/workflows with actionlint (and shellcheck, when in PATH).
	@command -v shellcheck >/dev/null && echo "actionlint: with $$(shellcheck --version | sed -n 's/^version: /shellcheck /p')" || echo "actionlint: shellcheck not in PATH, run: scripts not checked"
	$(ACTIONLINT) -color .github/workflows/*.yaml

##@ Helm

HELM_CHART ?= charts/regcred-operator
HELM_RELEASE ?= regcred
HELM_NAMESPACE ?= regcred-system
HELM_VALUES ?=

.PHONY: helm-lint
helm-lint: ## Lint the chart (--strict) with its default values and with every optional feature on.
	$(HELM) lint --strict $(HELM_CHART)
	$(HELM) lint --strict $(HELM_CHART) --values $(HELM_CHART)/ci/all-features-values.yaml

.PHONY: helm-template
helm-template: ## Print the chart's rendering (HELM_RELEASE, HELM_NAMESPACE, HELM_VALUES=values file).
	@$(HELM) template $(HELM_RELEASE) $(HELM_CHART) --namespace $(HELM_NAMESPACE) $(if $(HELM_VALUES),--values $(HELM_VALUES))
