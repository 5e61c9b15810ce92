# swift-microepoch: the one front door. `make help` lists the targets.
SHELL        := bash
.SHELLFLAGS  := -euo pipefail -c
.DEFAULT_GOAL := help

REV          ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH       ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VENV         := $(CURDIR)/.venv
PYTEST       := $(VENV)/bin/pytest
# The e2e harness (Tests/e2e/harness) as a package for the bench/ scripts; pytest finds it by
# Tests/e2e/pytest.ini.
HARNESS_PYTHONPATH := PYTHONPATH=$(CURDIR)/Tests/e2e
SWIFT        ?= swift
# The served `rev` is baked in at build time; passing it explicitly also makes SwiftPM re-read
# the manifest after a new commit (it caches the evaluated manifest otherwise).
export EPOCH_REV := $(REV)
export CONTAINERS_CONF := $(CURDIR)/deploy/containers.conf

# Each mk/<area>.mk appends its test target here; `make test` runs them cheapest and most basic
# first (TEST_ORDER), then any target not named there.
TEST_TARGETS :=
# The ASan build runs in the background from asan-build-background to asan-test (mk/sanitizers.mk).
TEST_ORDER   := lint tsan-test asan-build-background e2e-test page-test clock-test ntp-test nts-test roughtime-test monitoring-test \
                container-test registry-test registry-gc-test k8s-test clusters-test release-pipeline-test install-from-zero-test \
                rollout-test fuzz-test backpressure-test soak-test asan-test fuzz-coverage

include $(sort $(wildcard mk/*.mk))

.PHONY: help deps test
help: ## List the targets
	@echo "swift-microepoch — make targets:"
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -u \
	  | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## Install what the tests need (apt as root, Python tools into .venv/)
	@scripts/install-deps

ORDERED_TESTS = $(filter $(TEST_TARGETS),$(TEST_ORDER)) $(filter-out $(TEST_ORDER),$(TEST_TARGETS))

# run_tests NAME,TARGETS[,MAKE OPTIONS]: runs the targets in order and stops at the first failure,
# printing each target's run time as it ends and all of them at the end, so that a CI log shows
# where the 40-minute budget goes (README: the test command). A background build
# (asan-build-background) is stopped however the loop ends. make test, test-no-podman and
# test-podman (mk/release.mk) share it, called as `@+$(call run_tests,…)`: through $(call) make
# does not see the $(MAKE) inside, and the `+` marks the line as recursive (make -n, the jobserver).
run_tests = trap '$(MAKE) --no-print-directory asan-build-background-stop' EXIT; \
	started=$$SECONDS; times=""; \
	for t in $(2); do echo "==> make $(if $(3),$(3) )$$t"; t0=$$SECONDS; \
	  $(MAKE) --no-print-directory $(3) $$t || { echo "==> make $(1): $$t failed after $$((SECONDS - t0)) s" >&2; exit 1; }; \
	  echo "==> make $$t: passed in $$((SECONDS - t0)) s"; times="$$times $$t=$$((SECONDS - t0))s"; done; \
	echo "==> make $(1): all of [$(strip $(2))] passed in $$((SECONDS - started)) s:$$times"

test: deps ## Run every test: lint, unit, in-process, end-to-end, container, registry, k8s, pipeline, reliability
	@+$(call run_tests,test,$(ORDERED_TESTS))
