# One task runner, the same verbs everywhere: setup, lint, test, up, down, bench, services.
#   make up       deploy the whole stack to local Docker (stack "dev")
#   make test     everything CI runs: lint, type checks, unit, integration (real services)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
STACK ?= dev
VENV := .venv
INFRA_VENV := infra/venv
PY := $(VENV)/bin/python
INFRA_PY := $(INFRA_VENV)/bin/python
APPS := $(sort $(patsubst apps/%/pyproject.toml,%,$(wildcard apps/*/pyproject.toml)))
ACTIONLINT_VERSION := v1.7.7
GOBIN := $(CURDIR)/.cache/bin
# Local file-based Pulumi state: no Pulumi Cloud account needed.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# Stack secrets are encrypted with a passphrase generated once into a local file
# (never committed) unless you set PULUMI_CONFIG_PASSPHRASE(_FILE) yourself.
ifeq ($(origin PULUMI_CONFIG_PASSPHRASE),undefined)
export PULUMI_CONFIG_PASSPHRASE_FILE ?= $(CURDIR)/.pulumi-state/passphrase
endif
HARNESS := PYTHONPATH=$(CURDIR)/tests:$(CURDIR)/infra $(CURDIR)/$(PY) -m harness
PYTEST_FLAGS ?=

.PHONY: help setup lint test test-infra test-services services fetch up down preview bench clean stack pulumi kind-cluster resubmit

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt constraints/build.txt $(wildcard apps/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/constraints/build.txt $(VENV)/bin/pip install -q \
	  -r requirements-dev.txt $(foreach app,$(APPS),-e "apps/$(app)[test]")
	touch $@

$(INFRA_VENV)/.installed: infra/requirements.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install -q -r infra/requirements.txt
	touch $@

$(GOBIN)/actionlint:
	GOBIN=$(GOBIN) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# The Pulumi CLI the tests run (tests/infra/test_stackinit.py), pinned with every dependency
# by tools/pulumi/go.mod + go.sum and rebuilt only when they change. `make up` uses yours, on
# PATH. The module proxy only: a `,direct` fallback would fetch from hosts CI cannot reach.
PULUMI_GOPROXY ?= $(if $(GOPROXY),$(GOPROXY),https://proxy.golang.org)
$(GOBIN)/pulumi: tools/pulumi/go.mod tools/pulumi/go.sum tools/pulumi/tools.go
	@mkdir -p $(GOBIN)
	@started=$$(date +%s); cd tools/pulumi; \
	version=$$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3); \
	GOPROXY=$(PULUMI_GOPROXY) go build -trimpath -o $(GOBIN)/pulumi \
	  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$$version" \
	  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi; \
	echo "pulumi: built $(GOBIN)/pulumi in $$(( $$(date +%s) - started )) s"

pulumi: $(GOBIN)/pulumi  ## build the pinned Pulumi CLI the tests use into .cache/bin

# Dynamic providers (topics, templates, Kibana objects) run in a plugin the engine starts:
# pulumi-resource-pulumi-python, a script shipped in the sdk/v3 module that tools/pulumi/go.sum
# pins (python/dist/), which runs `python -m pulumi.dynamic` (PULUMI_PYTHON_CMD).
$(GOBIN)/pulumi-resource-pulumi-python: tools/pulumi/go.mod tools/pulumi/go.sum
	@mkdir -p $(GOBIN)
	@cd tools/pulumi && GOPROXY=$(PULUMI_GOPROXY) go mod download github.com/pulumi/pulumi/sdk/v3
	@dir=$$(cd tools/pulumi && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3); \
	install -m 0755 "$$dir/python/dist/pulumi-resource-pulumi-python" $@

# Everything the real-engine test (tests/engine/) runs: the CLI, the dynamic-provider plugin,
# the kubernetes provider and the control plane it deploys to.
.PHONY: engine
engine: $(GOBIN)/pulumi $(GOBIN)/pulumi-resource-pulumi-python $(GOBIN)/pulumi-resource-kubernetes kube-bins  ## build the real Pulumi engine and the test control plane into .cache/bin

# The test control plane (tests/harness/kube.py): kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl v1.37.2, etcd v3.7.4 and KWOK v0.8.0, pinned with every dependency
# by tools/kube/{,etcd/,kwok/}go.mod + go.sum, built into .cache/bin and rebuilt only when
# those change. Each prints its build time. Unstamped, /version says v0.0.0-master+$Format:%H$,
# which kubectl cannot parse: the -X flags stamp the release that tools/kube/go.mod requires,
# dated by the module's own time (read when a build runs; gitCommit is not in the module).
KUBE_MODULE = $(shell cd tools/kube && GOPROXY=$(PULUMI_GOPROXY) go list -m -f '$(1)' k8s.io/kubernetes)
KUBE_VERSION = $(call KUBE_MODULE,{{.Version}})
KUBE_STAMP = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(pkg).gitVersion=$(KUBE_VERSION) \
  -X $(pkg).gitMajor=$(patsubst v%,%,$(word 1,$(subst ., ,$(KUBE_VERSION)))) \
  -X $(pkg).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X $(pkg).gitTreeState=clean \
  -X $(pkg).buildDate=$(call KUBE_MODULE,{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}))
KUBE_CMDS := kube-apiserver kube-controller-manager kube-scheduler kubectl
KUBE_BINS := $(addprefix $(GOBIN)/,$(KUBE_CMDS) etcd kwok)
KWOK_STAGES := .cache/kwok-stages
# go build in $(1) of package $(2) into $(GOBIN)/$(3) with extra ldflags $(4), timed.
define kube_build
	@mkdir -p $(GOBIN)
	@started=$$(date +%s); \
	cd $(1) && GOPROXY=$(PULUMI_GOPROXY) go build -trimpath -ldflags '-s -w $(4)' \
	  -o $(GOBIN)/$(3).tmp $(2); \
	mv $(GOBIN)/$(3).tmp $(GOBIN)/$(3); \
	echo "kube-bins: built $(3) in $$(( $$(date +%s) - started )) s ($$(du -m $(GOBIN)/$(3) | cut -f1) MB)"
endef
KUBE_DEPS := tools/kube/go.mod tools/kube/go.sum tools/kube/tools.go
$(addprefix $(GOBIN)/,$(KUBE_CMDS)): $(GOBIN)/%: $(KUBE_DEPS)
	$(call kube_build,tools/kube,k8s.io/kubernetes/cmd/$*,$*,$(KUBE_STAMP))
$(GOBIN)/etcd: tools/kube/etcd/go.mod tools/kube/etcd/go.sum tools/kube/etcd/tools.go
	$(call kube_build,tools/kube/etcd,go.etcd.io/etcd/server/v3,etcd,)
$(GOBIN)/kwok: tools/kube/kwok/go.mod tools/kube/kwok/go.sum tools/kube/kwok/tools.go
	$(call kube_build,tools/kube/kwok,sigs.k8s.io/kwok/cmd/kwok,kwok,)
# KWOK refuses to start without stage definitions; the standard ones ship in its module zip
# (downloaded first: `go list -m` gives no directory for a module not yet in the cache).
# node-heartbeat-with-lease + kwok --node-lease-duration-seconds keep the node Ready: without
# them the node controller marks it NotReady after its 50 s grace period, and every Pod on it
# NotReady for good (tests/harness/kube.py). The Makefile is a prerequisite: a change to the
# list re-copies.
$(KWOK_STAGES)/.copied: tools/kube/kwok/go.mod tools/kube/kwok/go.sum Makefile
	@rm -rf $(KWOK_STAGES) && mkdir -p $(KWOK_STAGES)
	@cd tools/kube/kwok && GOPROXY=$(PULUMI_GOPROXY) go mod download sigs.k8s.io/kwok
	@src=$$(cd tools/kube/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage; \
	for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
	  pod/fast/pod-ready pod/fast/pod-complete \
	  pod/fast/pod-delete volume/fast/pvc-provision volume/fast/pv-bind \
	  volume/fast/pvc-delete volume/fast/pv-delete volume/fast/storage-class; do \
	  install -m 0644 "$$src/$$f.yaml" $(KWOK_STAGES)/; done
	@touch $@

.PHONY: kube-bins
kube-bins: $(KUBE_BINS) $(KWOK_STAGES)/.copied  ## build the test control plane (Kubernetes 1.37.2, etcd, KWOK) into .cache/bin
	@echo "kube-bins: $(notdir $(KUBE_BINS)) and KWOK's stages in .cache, up to date"

# The Pulumi kubernetes provider for a real engine against the test control plane, pinned by
# tools/pulumi-kubernetes/go.mod + go.sum: github.com/pulumi/pulumi-kubernetes/provider/v4 at
# a pseudo-version the proxy serves (commit f47bc2d6f199 of 2026-01-15, after 4.24.0; older than
# infra's SDK 4.34.2). Its own command embeds files its `go generate` writes and the module zip
# lacks: they are generated here, by the module's generate.go from the schema it ships, next to
# a copy of tools/pulumi-kubernetes (its main is the module's) under .cache/build.
PULUMI_K8S_MODULE := github.com/pulumi/pulumi-kubernetes/provider/v4
PULUMI_K8S_VERSION := 4.25.0-alpha.20260115033456+f47bc2d6f199
PULUMI_K8S_SRC := tools/pulumi-kubernetes
PULUMI_K8S_BUILD := .cache/build/pulumi-kubernetes
$(GOBIN)/pulumi-resource-kubernetes: $(addprefix $(PULUMI_K8S_SRC)/,go.mod go.sum main.go tools.go)
	@mkdir -p $(GOBIN)
	@started=$$(date +%s); \
	rm -rf $(PULUMI_K8S_BUILD) && mkdir -p $(PULUMI_K8S_BUILD); \
	cp $^ $(PULUMI_K8S_BUILD)/; \
	cd $(PULUMI_K8S_BUILD) && export GOPROXY=$(PULUMI_GOPROXY); \
	go mod download $(PULUMI_K8S_MODULE); \
	cmd=$$(go list -m -f '{{.Dir}}' $(PULUMI_K8S_MODULE))/cmd/pulumi-resource-kubernetes; \
	install -m 0644 $$cmd/generate.go $$cmd/schema.json $$cmd/terraform-mapping.json .; \
	VERSION=$(PULUMI_K8S_VERSION) go run generate.go; \
	go build -trimpath -o $(GOBIN)/pulumi-resource-kubernetes.tmp \
	  -ldflags '-s -w -X $(PULUMI_K8S_MODULE)/pkg/version.Version=$(PULUMI_K8S_VERSION)' .; \
	mv $(GOBIN)/pulumi-resource-kubernetes.tmp $(GOBIN)/pulumi-resource-kubernetes; \
	echo "pulumi-kubernetes: built $(GOBIN)/pulumi-resource-kubernetes $(PULUMI_K8S_VERSION)" \
	  "in $$(( $$(date +%s) - started )) s ($$(du -m $(GOBIN)/pulumi-resource-kubernetes | cut -f1) MB)"

.PHONY: pulumi-kubernetes
pulumi-kubernetes: $(GOBIN)/pulumi-resource-kubernetes  ## build the pinned Pulumi kubernetes provider into .cache/bin

setup: $(VENV)/.installed $(INFRA_VENV)/.installed  ## create both virtualenvs (tests/apps, infra)

fetch: setup  ## download and cache every Java artifact the harness runs
	$(HARNESS) fetch

lint: setup $(GOBIN)/actionlint  ## ruff, mypy (harness, apps, infra) and actionlint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy tests/harness tests/docker_e2e tests/engine tests/*.py bench --config-file pyproject.toml
	for app in $(APPS); do (cd apps/$$app && ../../$(VENV)/bin/mypy src tests); done
	cd infra && venv/bin/mypy
	$(GOBIN)/actionlint

# Each run prints its 15 slowest tests. A path named on a pytest command line that collects
# no test fails the run (tests/harness/pytest_plugin.py).
test-infra: setup $(GOBIN)/pulumi  ## Pulumi program unit, config and contract tests (Pulumi engine mocked)
	$(INFRA_VENV)/bin/pytest tests/infra -p no:cacheprovider -q --durations=15 $(PYTEST_FLAGS)

# The root run: tests/ (but tests/infra, the infra venv's) and apps/*/tests, with real services.
# engine: the Kubernetes control plane the kind target's tests run on (tests/harness/kube.py)
# and the real Pulumi engine that deploys the kind stack to it (tests/engine/).
test-services: setup fetch engine  ## harness smoke tests, app tests and end-to-end against real services
	$(VENV)/bin/pytest -q --durations=15 $(PYTEST_FLAGS) .

.PHONY: prerequisites
prerequisites:  ## check what `make test` needs (one line per missing tool)
	@PYTHONPATH=$(CURDIR)/tests:$(CURDIR)/infra $(PYTHON) -m harness.prerequisites

# The prerequisites first, before anything is installed or started.
test: prerequisites  ## everything CI runs: prerequisites, lint, every test
	$(MAKE) --no-print-directory lint test-infra test-services

KRAFT ?=
services: setup fetch  ## run Kafka (KRAFT=1: 4.x KRaft), Elasticsearch, Flink until Ctrl-C
	$(HARNESS) up$(if $(filter 1,$(KRAFT)), --kraft)

kind-cluster:  ## create the kind cluster the "kind" stack deploys to (UIs on 127.0.0.1)
	kind get clusters | grep -qx iotstack || kind create cluster --config infra/kind/cluster.yaml

# The one set-up step every verb runs first, so any verb works as the first command on a
# fresh clone: the local backend directory, the passphrase file, the stack's config file
# (seeded from infra/stacks/<stack>.yaml; kept outside the checkout, under .pulumi-state/) and
# the stack itself. Idempotent. See infra/stackinit.py.
stack:  ## set up the local backend, passphrase and stack (every verb runs it first)
	@$(PYTHON) infra/stackinit.py --stack $(STACK)

# Per-verb checks on the stack's own configuration (infra/preflight.py says which).
preflight-%: stack
	@$(PYTHON) infra/preflight.py --stack $(STACK) --verb $*

up: preflight-up setup  ## deploy the stack (STACK=dev: local Docker; STACK=kind: kind cluster)
	cd infra && pulumi up --stack $(STACK) --yes

preview: preflight-preview setup  ## show what `make up` would change, with the diff
	cd infra && pulumi preview --stack $(STACK) --diff

# Not needed after a reboot: the alerts job's keeper (the alerts-submit service, restarted
# like every service) brings the job back by itself from its newest checkpoint or savepoint.
# This forces a fresh start: the keeper is restarted, stops the running job with a savepoint
# and starts it again from that savepoint. Names: infra/iotstack/targets/{docker,kind}.py.
NAMESPACE ?= iotstack
resubmit: preflight-resubmit  ## restart the alerts job from a savepoint (a reboot needs nothing)
	if [ "$(STACK)" = kind ]; then \
	  kubectl -n $(NAMESPACE) rollout restart deployment/alerts-submit && \
	  kubectl -n $(NAMESPACE) rollout status deployment/alerts-submit --timeout=600s; \
	else \
	  docker restart iotstack-alerts-submit; \
	fi

down: preflight-down  ## tear the stack down (data volumes survive only with retainData: true)
	cd infra && pulumi destroy --stack $(STACK) --yes

bench: setup fetch  ## benchmarks; each prints a table
	for b in bench/*_bench.py; do $(PY) $$b; done

clean:  ## remove virtualenvs and cached artifacts
	rm -rf $(VENV) $(INFRA_VENV) .cache
