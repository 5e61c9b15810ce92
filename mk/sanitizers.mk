# swift test under AddressSanitizer and ThreadSanitizer (docs/reliability.md). Each sanitizer is a
# full build of the test graph, so each has one scratch path, kept between runs:
# - .build/asan: release (-O: in a debug build the stdlib's unsafe-pointer accesses are calls into
#   the uninstrumented stdlib, which ASan cannot see; optimized, they are inlined and checked),
#   with coverage for libFuzzer, so that the fuzz targets (mk/fuzz.mk) are built in the same tree.
# - .build/tsan: debug, as `swift test` is.
# What a sanitizer reports in a dependency and cannot be fixed here is suppressed, with its reason,
# in tools/sanitizers/. The tests run one at a time (--no-parallel): under a sanitizer's slowdown,
# run all together on two busy cores, the in-process NTP tests' 2 s exchanges and the idle-timeout
# test timed out (4 failures under TSan, 2026-12-03; alone, or in series, they pass).
.PHONY: asan-build sanitizers-test

ASAN_SCRATCH      := $(CURDIR)/.build/asan
TSAN_SCRATCH      := $(CURDIR)/.build/tsan
# libFuzzer's coverage: inline 8-bit edge counters with their PC table, and comparison operands.
SANITIZE_COVERAGE := edge,inline-8bit-counters,pc-table,trace-cmp
ASAN_BUILD_FLAGS  := -c release --scratch-path $(ASAN_SCRATCH) --sanitize address \
                     -Xswiftc -sanitize-coverage=$(SANITIZE_COVERAGE)
ASAN_TEST_OPTIONS := detect_leaks=1:abort_on_error=0:halt_on_error=1:suppressions=$(CURDIR)/tools/sanitizers/asan.supp
LSAN_TEST_OPTIONS := suppressions=$(CURDIR)/tools/sanitizers/lsan.supp
TSAN_TEST_OPTIONS := halt_on_error=1:suppressions=$(CURDIR)/tools/sanitizers/tsan.supp
# The fuzz targets are in the ASan tree's package graph only when named (Package.swift).
FUZZ_TARGETS      := $(sort $(patsubst Tests/Fuzz/%/main.swift,%,$(wildcard Tests/Fuzz/*/main.swift)))
asan_env           = EPOCH_FUZZ_TARGETS='$(FUZZ_TARGETS)' EPOCH_FUZZ_PLANTED_BUG=0

# Not yet in `make test` (issue 24 is open): on this 2-core machine the sanitizer build of the
# test graph has not been seen to finish beside the other work, so its run time against CI's budget
# is unmeasured. Run it by hand: `make sanitizers-test`.

asan-build: ## Build the test graph and the fuzz targets with AddressSanitizer and coverage into .build/asan (release)
	@echo "==> swift build --build-tests $(ASAN_BUILD_FLAGS) (fuzz targets: $(FUZZ_TARGETS))"
	@$(asan_env) $(SWIFT) build --build-tests $(ASAN_BUILD_FLAGS) 2>&1 | { grep -v "Cannot export local symbol '__asan" || true; }

sanitizers-test: asan-build ## swift test under AddressSanitizer (.build/asan) and ThreadSanitizer (.build/tsan); suppressions in tools/sanitizers/
	@echo "==> swift test under AddressSanitizer (ASAN_OPTIONS=$(ASAN_TEST_OPTIONS))"
	@$(asan_env) ASAN_OPTIONS='$(ASAN_TEST_OPTIONS)' LSAN_OPTIONS='$(LSAN_TEST_OPTIONS)' \
	  $(SWIFT) test --skip-build --no-parallel $(ASAN_BUILD_FLAGS)
	@echo "==> swift test --sanitize thread --scratch-path $(TSAN_SCRATCH) (TSAN_OPTIONS=$(TSAN_TEST_OPTIONS))"
	@TSAN_OPTIONS='$(TSAN_TEST_OPTIONS)' $(SWIFT) test --no-parallel --scratch-path $(TSAN_SCRATCH) --sanitize thread
