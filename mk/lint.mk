# Linters: GitHub Actions workflows, Travis, YAML, shell scripts and the Swift sources.
# Everything comes from tools/apt/lint.txt, tools/pip/lint.txt and the Swift toolchain (`swift format`).
.PHONY: lint lint-actions lint-yaml lint-shell lint-swift lint-imports lint-products

WORKFLOWS    := $(sort $(wildcard .github/workflows/*.yml .github/workflows/*.yaml))
# Every file under scripts/ (and .ci/run) whose first line names sh or bash: a shebang, or the
# `# shellcheck shell=bash` directive of a sourced library.
SHELL_FILES   = $(shell for f in scripts/* .ci/run; do [[ -f $$f ]] && head -n1 "$$f" \
                  | grep -qE '^(#!.*\b(ba|da)?sh\b|# shellcheck shell=)' && echo "$$f"; done; true)
SWIFT_FORMAT ?= $(SWIFT) format
SWIFT_LINT_PATHS := Sources Tests Package.swift

TEST_TARGETS += lint

lint: lint-actions lint-yaml lint-shell lint-swift lint-imports lint-products ## Lint workflows (actionlint, JSON schema, zizmor), YAML, shell scripts, Swift sources, Swift imports (targets and products)
	@echo "lint: all linters passed"

lint-actions: ## actionlint (with shellcheck on run: blocks); JSON schemas of the workflows, .travis.yml, dependabot.yml; zizmor
	@command -v shellcheck >/dev/null || { echo "lint-actions: shellcheck is missing (make deps installs it); without it actionlint skips run: scripts" >&2; exit 1; }
	@test -n "$(WORKFLOWS)" || { echo "lint-actions: no workflow in .github/workflows" >&2; exit 1; }
	@echo "lint-actions: actionlint $(WORKFLOWS)"
	@$(VENV)/bin/actionlint -shellcheck "$$(command -v shellcheck)" $(WORKFLOWS)
	@echo "lint-actions: check-jsonschema vendor.github-workflows + custom.github-workflows-require-timeout"
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	@$(VENV)/bin/check-jsonschema --builtin-schema custom.github-workflows-require-timeout $(WORKFLOWS)
	@echo "lint-actions: check-jsonschema vendor.travis .travis.yml, vendor.dependabot .github/dependabot.yml"
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.travis .travis.yml
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	@echo "lint-actions: zizmor --offline --persona=pedantic (config .github/zizmor.yml) .github/workflows .github/dependabot.yml"
	@$(VENV)/bin/zizmor --offline --persona=pedantic --config .github/zizmor.yml --min-severity=informational \
	  $(WORKFLOWS) .github/dependabot.yml

lint-yaml: ## yamllint --strict on every YAML file of the repository (.yamllint.yaml)
	@echo "lint-yaml: yamllint --strict ."
	@$(VENV)/bin/yamllint --strict .

lint-shell: ## shellcheck on scripts/* and .ci/run
	@test -n "$(SHELL_FILES)" || { echo "lint-shell: no shell script found in scripts/ or .ci/run" >&2; exit 1; }
	@echo "lint-shell: shellcheck $(SHELL_FILES)"
	@shellcheck --external-sources --source-path=SCRIPTDIR $(SHELL_FILES)

lint-swift: ## swift format lint --strict with the committed .swift-format
	@test -f .swift-format || { echo "lint-swift: .swift-format is missing" >&2; exit 1; }
	@echo "lint-swift: $(SWIFT_FORMAT) lint --strict --recursive $(SWIFT_LINT_PATHS)"
	@$(SWIFT_FORMAT) lint --strict --recursive $(SWIFT_LINT_PATHS)

# SwiftPM lets a target import another target of this package that it does not depend on, as long
# as that module happens to be built first: it compiles until the build order changes. The check
# makes such an import an error (exit 1 naming both targets). It does not look past the declared
# chain (a target reachable through a declared one passes) nor at other packages' products:
# lint-products does. Control: drop "EpochClient" from
# EpochServerTests' dependencies and this fails. Runs on the ThreadSanitizer tree (mk/sanitizers.mk),
# make test's one debug build, which tsan-test then runs without building again.
lint-imports: ## Every target of this package a Swift target or test imports is one it declares (SwiftPM's explicit import check)
	@echo "lint-imports: $(SWIFT) build --build-tests $(TSAN_BUILD_FLAGS) --explicit-target-dependency-import-check=error"
	@$(SWIFT) build --build-tests $(TSAN_BUILD_FLAGS) --explicit-target-dependency-import-check=error

# SwiftPM's check above stops at this package's own targets: a file importing NIOConcurrencyHelpers
# compiles without its target declaring the product, as long as another product builds the module.
# scripts/check-imports.py reads what each target may import from SwiftPM (describe, dump-package of
# every package in the graph) and its `import` lines (the script says why that is enough), and
# names each undeclared import on a line of its own. The control runs with it: the same check as if
# EpochServer did not declare NIOConcurrencyHelpers must fail (it names 8 files). No build needed:
# 3 s (35 s the first time, evaluating the dependencies' manifests, cached in .build/check-imports).
lint-products: ## Every module a Swift target imports from another package is a product it declares (scripts/check-imports.py), and its control
	@echo "lint-products: scripts/check-imports.py"
	@$(SWIFT) package resolve >/dev/null
	@python3 scripts/check-imports.py
	@echo "lint-products: the control, as if EpochServer did not declare NIOConcurrencyHelpers, must fail"
	@if python3 scripts/check-imports.py --drop EpochServer:NIOConcurrencyHelpers 2>/dev/null; then \
	  echo "lint-products: the control passed: the check cannot see an undeclared product" >&2; exit 1; fi
