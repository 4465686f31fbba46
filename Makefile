# regcred-operator Makefile (kubebuilder go/v3 layout).

IMG ?= regcred-operator:latest
K8S_VERSION ?= v1.37.2
GOOS ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)
LOCALBIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(K8S_VERSION)-$(GOOS)-$(GOARCH)
export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)
CONTROLLER_GEN ?= go tool controller-gen
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
manifests: ## Generate the CRD, RBAC and webhook manifests.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases

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

.PHONY: test
test: manifests generate envtest-assets ## Run unit and envtest suites (real API server) with -race.
	go test $(GO_TEST_FLAGS) ./... 2>&1 | tee $(LOCALBIN)/test.log
	@grep -E '^(ok|FAIL|---)' $(LOCALBIN)/test.log | grep -c '^ok' | xargs -I{} echo "packages ok: {}"

.PHONY: test-faults
test-faults: manifests generate envtest-assets ## Fault suite: the operator binary under kube-apiserver restarts, SIGKILL, leader failover, concurrent writers, etcd pauses and deletions.
	go test -tags faults $(GO_TEST_FLAGS) -v -timeout 40m ./internal/faults/ 2>&1 | tee $(LOCALBIN)/faults.log
	@grep -E '^\s+\S+_test.go:[0-9]+: (CONVERGED|FAILOVER|graceful)' $(LOCALBIN)/faults.log || true

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@for p in ./internal/registry/ ./internal/selection/; do \
		for t in $$(go test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			go test $$p -run='^$$' -fuzz="^$$t$$" -fuzztime=$${FUZZTIME:-30s} || exit 1; done; done

.PHONY: bench
bench: envtest-assets build ## Benchmark against a real control plane and print a table (ARGS=-short for a quick run).
	go run ./hack/bench $(ARGS)

##@ Build

.PHONY: build
build: manifests generate ## Build the manager binary.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate ## Run the manager against the cluster in $$KUBECONFIG (without the webhook, which the cluster could not reach).
	go run . --source-namespaces=$${SOURCE_NAMESPACES:-regcred-system} --enable-pod-webhook=false

.PHONY: demo
demo: envtest-assets build ## Start a local control plane, install the CRD, create a demo and run the operator in the foreground.
	go run ./hack/demo

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster in $$KUBECONFIG.
	kubectl apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator with image IMG.
	cd config/manager && kubectl kustomize . >/dev/null
	kubectl kustomize config/default | sed 's|image: controller:latest|image: $(IMG)|' | kubectl apply -f -

.PHONY: undeploy
undeploy: ## Remove the operator.
	kubectl delete --ignore-not-found -k config/default
