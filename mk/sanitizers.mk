# swift test under AddressSanitizer and ThreadSanitizer (docs/reliability.md), both in `make test`.
# Each sanitizer is a full build of the test graph, so each has one scratch path, kept between runs:
# - .build/tsan: debug, as `swift test` is. It is make test's only debug build: lint-imports checks
#   it, tsan-test runs the tests in it (so `make test` does not run them a third time, uninstrumented:
#   `make swift-test` does, for a quick iteration), and e2e-test's https:// tests run its `epoch`.
# - .build/asan: release (-O: in a debug build the stdlib's raw-pointer loads are calls into the
#   uninstrumented stdlib, which ASan cannot see; optimized, they are inlined and checked: measured,
#   docs/reliability.md),
#   with coverage for libFuzzer, so that the fuzz targets (mk/fuzz.mk) are built in the same tree.
# What a sanitizer reports in a dependency and cannot be fixed here is suppressed, with its reason,
# in tools/sanitizers/. The tests run one at a time (--no-parallel): under a sanitizer's slowdown,
# run all together on two busy cores, the in-process NTP tests' 2 s exchanges and the idle-timeout
# test timed out (4 failures under TSan, 2026-12-03; alone, or in series, they pass).
.PHONY: asan-build asan-build-background tsan-build asan-test tsan-test sanitizers-test

ASAN_SCRATCH      := $(CURDIR)/.build/asan
TSAN_SCRATCH      := $(CURDIR)/.build/tsan
# libFuzzer's coverage: inline 8-bit edge counters with their PC table, and comparison operands.
SANITIZE_COVERAGE := edge,inline-8bit-counters,pc-table,trace-cmp
ASAN_BUILD_FLAGS  := -c release --scratch-path $(ASAN_SCRATCH) --sanitize address \
                     -Xswiftc -sanitize-coverage=$(SANITIZE_COVERAGE)
ASAN_TEST_OPTIONS := detect_leaks=1:abort_on_error=0:halt_on_error=1:suppressions=$(CURDIR)/tools/sanitizers/asan.supp
LSAN_TEST_OPTIONS := suppressions=$(CURDIR)/tools/sanitizers/lsan.supp
TSAN_TEST_OPTIONS := halt_on_error=1:suppressions=$(CURDIR)/tools/sanitizers/tsan.supp
TSAN_BUILD_FLAGS  := --scratch-path $(TSAN_SCRATCH) --sanitize thread
# The fuzz targets are in the ASan tree's package graph only when named (Package.swift).
FUZZ_TARGETS      := $(sort $(patsubst Tests/Fuzz/%/main.swift,%,$(wildcard Tests/Fuzz/*/main.swift)))
asan_env           = EPOCH_FUZZ_TARGETS='$(FUZZ_TARGETS)' EPOCH_FUZZ_PLANTED_BUG=0

# The ASan tree is ~8 min of two cores from a clean scratch path, more than make test's 40-minute
# budget can add in series (docs/reliability.md). make test starts it early, after the release
# build (asan-build-background), at idle priority (scripts/background-build: the idle scheduling
# class, in make test's own session): it takes the CPU the end-to-end tests leave idle while they
# wait on peers, timers and rates, and the tests keep what they need. asan-build takes the lock the
# background build holds, so asan-test waits for it and then builds what is left, in the
# foreground, with its errors.
ASAN_LOCK         := $(CURDIR)/.build/asan.lock
ASAN_BACKGROUND   := $(CURDIR)/.build/asan-background
TEST_TARGETS      += tsan-test asan-build-background asan-test

asan-build: ## Build the test graph and the fuzz targets with AddressSanitizer and coverage into .build/asan (release)
	@mkdir -p $(dir $(ASAN_LOCK))
	@if ! flock -n $(ASAN_LOCK) true; then echo "asan-build: waiting for the background build (log $(ASAN_BACKGROUND).log)"; fi
	@flock $(ASAN_LOCK) $(MAKE) --no-print-directory asan-build-locked

# The build itself, under the lock. Fuzz targets left built with their planted bugs (an interrupted
# fuzz-planted) are rebuilt.
.PHONY: asan-build-locked
asan-build-locked:
	@if [[ -f $(fuzz_built_mark) && "$$(cat $(fuzz_built_mark))" != 0 ]]; then $(fuzz_forget); fi
	@echo "==> swift build --build-tests $(ASAN_BUILD_FLAGS) (fuzz targets: $(FUZZ_TARGETS))"
	@$(asan_env) $(SWIFT) build --build-tests $(ASAN_BUILD_FLAGS) 2>&1 | { grep -v "Cannot export local symbol '__asan" || true; }
	@mkdir -p $(ASAN_SCRATCH) && echo 0 > $(fuzz_built_mark)

# make test (and test-no-podman) stop it if they end before asan-test (asan-build-background-stop).
asan-build-background: release ## Start the ASan build in the background at idle priority: make test does, before the end-to-end tests
	@scripts/background-build start $(ASAN_BACKGROUND) $(ASAN_LOCK) $(MAKE) --no-print-directory asan-build-locked

.PHONY: asan-build-background-stop
asan-build-background-stop:
	@scripts/background-build stop $(ASAN_BACKGROUND)

asan-test: asan-build ## swift test under AddressSanitizer and LeakSanitizer (.build/asan); suppressions in tools/sanitizers/
	@echo "==> swift test --skip-build under AddressSanitizer (ASAN_OPTIONS=$(ASAN_TEST_OPTIONS))"
	@$(asan_env) ASAN_OPTIONS='$(ASAN_TEST_OPTIONS)' LSAN_OPTIONS='$(LSAN_TEST_OPTIONS)' \
	  $(SWIFT) test --skip-build --no-parallel $(ASAN_BUILD_FLAGS)

tsan-build: ## Build the test graph with ThreadSanitizer into .build/tsan (debug)
	@echo "==> swift build --build-tests $(TSAN_BUILD_FLAGS)"
	@$(SWIFT) build --build-tests $(TSAN_BUILD_FLAGS)

tsan-test: ## swift test under ThreadSanitizer (.build/tsan, debug); suppressions in tools/sanitizers/
	@echo "==> swift test --no-parallel $(TSAN_BUILD_FLAGS) (TSAN_OPTIONS=$(TSAN_TEST_OPTIONS))"
	@TSAN_OPTIONS='$(TSAN_TEST_OPTIONS)' $(SWIFT) test --no-parallel $(TSAN_BUILD_FLAGS)

sanitizers-test: tsan-test asan-test ## swift test under ThreadSanitizer (make tsan-test) and AddressSanitizer (make asan-test)
	@echo "sanitizers-test: ThreadSanitizer and AddressSanitizer runs passed"
