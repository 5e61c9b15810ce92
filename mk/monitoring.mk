# Monitoring (docs/watch.md): the TOTP alert rules with promtool, both /metrics outputs with
# `promtool check metrics`, and the real Prometheus scraping a real `epoch watch`.
# Tools: tools/apt/time.txt (prometheus brings promtool).
.PHONY: monitoring-test

PROM_RULES      := deploy/prometheus/epoch-alerts.yaml
PROM_RULE_TESTS := $(sort $(wildcard deploy/prometheus/tests/*.yaml))

TEST_TARGETS += monitoring-test

monitoring-test: release ## promtool check/test rules (+ a broken-rule control that must fail), check metrics, Prometheus e2e alert
	@command -v promtool >/dev/null || { echo "monitoring-test: promtool is missing: run make deps (tools/apt/time.txt)" >&2; exit 1; }
	@echo "monitoring-test: promtool check rules $(PROM_RULES) ($$(promtool --version 2>&1 | head -1))"
	@promtool check rules $(PROM_RULES)
	@echo "monitoring-test: promtool test rules $(PROM_RULE_TESTS)"
	@promtool test rules $(PROM_RULE_TESTS)
	@echo "monitoring-test: control: the same tests against rules whose TOTP threshold is 25 s must fail"
	@control=$$(mktemp -d); trap 'rm -rf "$$control"' EXIT; \
	  mkdir -p "$$control/tests"; cp $(PROM_RULE_TESTS) "$$control/tests/"; \
	  sed 's/) > 15$$/) > 25/' $(PROM_RULES) > "$$control/$(notdir $(PROM_RULES))"; \
	  ! cmp -s $(PROM_RULES) "$$control/$(notdir $(PROM_RULES))" || { echo "monitoring-test: the control changed nothing" >&2; exit 1; }; \
	  if promtool test rules "$$control"/tests/*.yaml >/dev/null 2>&1; then \
	    echo "monitoring-test: the broken rules passed the unit tests: they prove nothing" >&2; exit 1; fi; \
	  echo "monitoring-test: control failed as it must"
	@echo "monitoring-test: the PrometheusRule carries the same groups as $(PROM_RULES)"
	@$(VENV)/bin/python -c 'import sys, yaml; \
	  a = yaml.safe_load(open("$(PROM_RULES)"))["groups"]; \
	  b = yaml.safe_load(open("deploy/k8s/monitoring/prometheusrule.yaml"))["spec"]["groups"]; \
	  sys.exit(0 if a == b else "deploy/k8s/monitoring/prometheusrule.yaml differs from $(PROM_RULES)")'
	@echo "monitoring-test: pytest -m monitoring Tests/e2e ($$(prometheus --version 2>&1 | head -1))"
	@$(PYTEST) -q -s -rsxX -m monitoring Tests/e2e
