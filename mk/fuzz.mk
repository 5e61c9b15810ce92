# Coverage-guided fuzzing with libFuzzer (docs/reliability.md): one target per door, each a folder
# Tests/Fuzz/<name> with a main.swift that calls the real code and checks its promises, seeds in
# Tests/Fuzz/corpus/<name>, a dictionary in Tests/Fuzz/dictionaries/<name>.dict. Adding a target is
# adding that folder: FUZZ_TARGETS (mk/sanitizers.mk) lists the folders, and Package.swift makes an
# executable `fuzz-<name>` of each, linked with libFuzzer, in the AddressSanitizer tree (.build/asan).
# The control: EPOCH_FUZZ_PLANTED_BUG=1 compiles a bug planted in each target, which the fuzzer
# must find within its share of the budget; then the targets are built again without it.
.PHONY: fuzz-build fuzz-planted fuzz-coverage fuzz-long

# The budget of make fuzz-coverage for all targets together, in seconds of fuzzing, shared equally;
# FUZZ_JOBS targets run at once (one core each: libFuzzer's loop is one thread), so that the
# budget takes ceil(targets / FUZZ_JOBS) shares of the wall clock: 4 × 42 s on two cores.
FUZZ_SECONDS   ?= 300
FUZZ_JOBS      ?= $(shell nproc)
FUZZ_WORK      := $(CURDIR)/.build/fuzz
FUZZ_BIN_DIR    = $(ASAN_SCRATCH)/release
fuzz_run_env    = FUZZ_BIN_DIR='$(FUZZ_BIN_DIR)' FUZZ_WORK='$(FUZZ_WORK)' ASAN_OPTIONS='detect_leaks=0'
fuzz_share      = $$(( $(FUZZ_SECONDS) / $(words $(FUZZ_TARGETS)) ))
# SwiftPM does not recompile a module whose flags alone changed (CONTRIBUTING.md): the fuzz
# targets' objects are removed whenever the planted-bug flag flips, so that it takes effect.
# The build plan's file maps stay: SwiftPM writes them only when it plans again.
fuzz_forget     = find $(ASAN_SCRATCH)/*/release/fuzz_*.build -type f ! -name output-file-map.json -delete \
                    2>/dev/null; rm -rf $(FUZZ_BIN_DIR)/fuzz-*
fuzz_built_mark = $(ASAN_SCRATCH)/fuzz-planted-bug
# fuzz_each MODE: every target through scripts/fuzz-run, FUZZ_JOBS at once; each prints its line.
fuzz_each       = printf '%s\n' $(FUZZ_TARGETS) | $(fuzz_run_env) xargs -P $(FUZZ_JOBS) -I{} scripts/fuzz-run {} $(fuzz_share) $(1)

TEST_TARGETS   += fuzz-coverage

fuzz-build: asan-build ## Build the fuzz targets without planted bugs (.build/asan/release/fuzz-*, with the ASan test graph)

# The control runs under the ASan tree's lock (mk/sanitizers.mk): no other build of that tree may
# rebuild the targets between the planted build and the runs. The mark says the fuzz targets'
# objects may be planted ones (1) before they are built, so that an interrupted run leaves them to
# be rebuilt by asan-build.
fuzz-planted: ## The control: each target built with its planted bug must crash within its share of FUZZ_SECONDS
	@mkdir -p $(dir $(ASAN_LOCK))
	@flock $(ASAN_LOCK) $(MAKE) --no-print-directory fuzz-planted-locked

.PHONY: fuzz-planted-locked
fuzz-planted-locked:
	@$(fuzz_forget); mkdir -p $(ASAN_SCRATCH); echo 1 > $(fuzz_built_mark)
	@echo "==> swift build --build-tests $(ASAN_BUILD_FLAGS) with EPOCH_FUZZ_PLANTED_BUG=1 (only the fuzz targets differ)"
	@EPOCH_FUZZ_TARGETS='$(FUZZ_TARGETS)' EPOCH_FUZZ_PLANTED_BUG=1 $(SWIFT) build --build-tests $(ASAN_BUILD_FLAGS) 2>&1 \
	  | { grep -v "Cannot export local symbol '__asan" || true; }
	@echo "==> the controls: $(words $(FUZZ_TARGETS)) planted targets, $(FUZZ_JOBS) at once, each must crash within $(fuzz_share) s"
	@$(call fuzz_each,planted)
	@$(fuzz_forget)

fuzz-coverage: fuzz-planted fuzz-build ## The control, then every fuzz target for its share of FUZZ_SECONDS (300): executions, exec/s, edges
	@echo "==> $(words $(FUZZ_TARGETS)) fuzz targets, $(fuzz_share) s each ($(FUZZ_SECONDS) s in all), $(FUZZ_JOBS) at once; work in $(FUZZ_WORK)"
	@$(call fuzz_each,clean)
	@echo "fuzz-coverage: $(words $(FUZZ_TARGETS)) targets ran clean"

fuzz-long: fuzz-build ## Run one fuzz target for as long as asked: make fuzz-long TARGET=ntp SECONDS=3600
	@[[ -n "$(TARGET)" ]] || { echo "fuzz-long: name TARGET, one of: $(FUZZ_TARGETS)" >&2; exit 1; }
	@$(fuzz_run_env) scripts/fuzz-run '$(TARGET)' '$(or $(SECONDS),600)'
