# Two clusters on two clouds (docs/multi-cluster.md): the EpochClustersDisagree alert with promtool
# (firing and silent, and broken copies of the rule that must fail), then Tests/e2e/service/test_clusters.py:
# two network namespaces joined by a veth pair, each running the release binary's server and watch,
# a real Prometheus scraping both, a 20 s skew, a cut link, and the chained Roughtime report of
# `epoch check --report` re-verified by scripts/verify-roughtime-report.py (Python's cryptography).
# Needs root (ip netns) and iproute2, curl, prometheus (tools/apt/*.txt).
.PHONY: clusters-test clusters-rules-test

CLUSTERS_RULES      := deploy/prometheus/clusters/epoch-clusters-alerts.yaml
CLUSTERS_RULE_TESTS := $(sort $(wildcard deploy/prometheus/clusters/tests/*.yaml))
# Each edit breaks one part of the rule; the unit tests must then fail.
CLUSTERS_RULE_CONTROLS := \
  's/ > 1)/ > 30)/' \
  's/epoch_watch_source_up == 1/epoch_watch_source_up >= 0/' \
  's/^            and on (job, instance)$$/            or on (job, instance)/'

TEST_TARGETS += clusters-test

clusters-rules-test: ## promtool check/test the EpochClustersDisagree rule, and three broken copies that must fail
	@command -v promtool >/dev/null || { echo "clusters-rules-test: promtool is missing: run make deps" >&2; exit 1; }
	@echo "clusters-rules-test: promtool check rules $(CLUSTERS_RULES)"
	@promtool check rules $(CLUSTERS_RULES)
	@echo "clusters-rules-test: promtool test rules $(CLUSTERS_RULE_TESTS)"
	@promtool test rules $(CLUSTERS_RULE_TESTS)
	@for edit in $(CLUSTERS_RULE_CONTROLS); do \
	  control=$$(mktemp -d); mkdir -p "$$control/tests"; cp $(CLUSTERS_RULE_TESTS) "$$control/tests/"; \
	  sed "$$edit" $(CLUSTERS_RULES) > "$$control/$(notdir $(CLUSTERS_RULES))"; \
	  if cmp -s $(CLUSTERS_RULES) "$$control/$(notdir $(CLUSTERS_RULES))"; then \
	    rm -rf "$$control"; echo "clusters-rules-test: control $$edit changed nothing" >&2; exit 1; fi; \
	  if promtool test rules "$$control"/tests/*.yaml >/dev/null 2>&1; then \
	    rm -rf "$$control"; echo "clusters-rules-test: the rule broken by $$edit passed its tests: they prove nothing" >&2; exit 1; fi; \
	  rm -rf "$$control"; echo "clusters-rules-test: control $$edit failed as it must"; \
	done

clusters-test: release clusters-rules-test ## Two clusters in network namespaces: Prometheus alert on a 20 s skew only, link cut, chained Roughtime report re-verified independently
	@test "$$(id -u)" = 0 || { echo "clusters-test: needs root for ip netns" >&2; exit 1; }
	@for tool in ip curl prometheus; do command -v $$tool >/dev/null || { echo "clusters-test: $$tool is missing: run make deps" >&2; exit 1; }; done
	@echo "clusters-test: pytest -m clusters Tests/e2e/delivery (offline: kustomize, Flux schemas)"
	@KUBECTL=$(KUBECTL) $(PYTEST) -q -m clusters Tests/e2e/delivery
	@echo "clusters-test: pytest -m clusters Tests/e2e/service ($(RELEASE_BIN), $$(prometheus --version 2>&1 | head -1))"
	@KUBECTL=$(KUBECTL) $(PYTEST) -q -s -rsxX -m clusters Tests/e2e/service
	@if ip netns list | grep -q '^epc[0-9]*-'; then echo "clusters-test: network namespaces left behind: $$(ip netns list | grep '^epc')" >&2; exit 1; fi
	@echo "clusters-test: no namespace left behind"
