# dbjobs — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all install control-plane lint typecheck importlint test test-unit test-integration test-e2e demo clean

all: test

$(STAMP): pyproject.toml testkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,testkit]' -e ./testkit
	touch $(STAMP)

install: $(STAMP)

# kube-apiserver + etcd (and kubectl when the machine has none) from the Go module proxy, cached in ~/.cache/dbjobs.
control-plane:
	bash hack/build-control-plane.sh

.PHONY: helm-tools
# The chart tools (helm v3.22.0, helm-unittest, kubeconform) from the Go module proxy, the Kubernetes 1.32 JSON
# schemas (PyPI kubernetes-validate) and the ServiceMonitor CRD, at hack/helm-tools.versions, cached in
# ~/.cache/dbjobs/tools.
helm-tools:
	bash hack/build-helm-tools.sh

.PHONY: argocd
# Argo CD v3.6.1 (the argocd multi-call binary and argocd-healthcheck, from the Go module proxy with Go 1.27,
# cached in ~/.cache/dbjobs/argocd) and redis-server (Debian package, apt-get when missing): the Argo CD health
# check tests and the Git -> Argo CD -> Databricks loop test.
argocd:
	bash hack/build-argocd.sh
	bash hack/install-redis.sh

.PHONY: clients
# Real Databricks clients the integration tier drives against the emulator (old SDK, legacy CLI, Go SDK
# driver) and the official Jobs 2.1 OpenAPI document, cached in ~/.cache/dbjobs/clients.
clients:
	bash hack/build-clients.sh

# Render manifests/install.yaml from the chart (install without Helm; a test fails when it is stale).
.PHONY: manifests
manifests: helm-tools
	bash hack/render-install.sh

# Regenerate crds/ from the pinned databricks-sdk (tests/unit/test_crd_generation.py fails when it is stale).
.PHONY: crds
crds: install
	$(PY) -m controller.api.crdgen

lint: install
	$(VENV)/bin/ruff check controller testkit tests benchmarks
	$(VENV)/bin/ruff format --check controller testkit tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

importlint: install
	$(VENV)/bin/lint-imports

test-unit: install
	$(VENV)/bin/pytest -m unit -q

test-integration: install clients argocd helm-tools
	$(VENV)/bin/pytest -m integration -q

test-e2e: install control-plane argocd helm-tools
	$(VENV)/bin/pytest -m e2e -q

# The README's test command: static checks, then every tier.
test: install control-plane clients argocd helm-tools lint typecheck importlint
	$(VENV)/bin/pytest -q --durations=15

demo: install control-plane
	$(VENV)/bin/dbjobs-testkit demo

.PHONY: demo-argocd
# The same product told through Argo CD: commits to a local Git repository, Argo CD syncing them, our health check.
demo-argocd: install control-plane argocd
	$(VENV)/bin/dbjobs-testkit demo-argocd

.PHONY: reliability reliability-replay
# The full fault suite of issue 13 (docs/reliability.md): 204 kill points, every infrastructure fault for the issue's
# durations and the known cases, on the real control plane; about 1.5 hours on 2 cores. Its short slice runs in
# `make test`. Figures and the controller log go to reliability-logs/.
reliability: install control-plane
	mkdir -p reliability-logs
	set -o pipefail; DBJOBS_RELIABILITY_LOG_DIR=$(CURDIR)/reliability-logs $(VENV)/bin/pytest -s -q -m 'reliability or e2e' \
		-k 'not short' --durations=30 tests/reliability 2>&1 | tee reliability-logs/run.log

# Replay one crash-point lifecycle: DBJOBS_RELIABILITY_SEED=<the seed printed for it> make reliability-replay
reliability-replay: install control-plane
	$(VENV)/bin/pytest -s -q tests/reliability/test_crash_points.py -k short

.PHONY: bench
# The benchmarks of docs/benchmarks.md (figures, not tests; about 35 minutes on 2 cores): observation at scale
# for N = 100, 1000, 3000 at a 20 s interval (the table on stdout, every figure in benchmarks/scale-latest.json),
# then batched vs per-job runs/list.
bench: install control-plane
	$(PY) -m benchmarks.scale --n 100 1000 3000 --interval 20 --json benchmarks/scale-latest.json
	$(PY) benchmarks/run_observation.py 10 100 1000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
