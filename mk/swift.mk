# The Swift package: build, run from source, unit and in-process tests, the release binary.
RELEASE_BIN  := .build/release/epoch
# The linker's map of the release link, which `make size` reads. Not under .build/release: on a
# fresh clone that link is only made once SwiftPM has finished, and the linker cannot open the map.
RELEASE_MAP  := .build/epoch-release.map
# The server build the image ships (issue 10, docs/benchmark.md): fully static (glibc linked in) so the
# scratch image needs nothing but the binary, with the flags of tools/release-swift-flags (the one
# list, which the Dockerfile and the container test read too; it says why each).
RELEASE_SWIFT_FLAGS := -c release -Xswiftc -static-executable $(shell grep -v '^\#' tools/release-swift-flags)
RELEASE_FLAGS := $(RELEASE_SWIFT_FLAGS) -Xlinker -s -Xlinker -Map=$(CURDIR)/$(RELEASE_MAP)

.PHONY: serve release link-order swift-test e2e-test
serve: ## Run the service from source on :8080 (Ctrl-C drains and stops it)
	@echo "==> swift run epoch serve (rev $(REV)) on http://127.0.0.1:$${EPOCH_PORT:-8080}/"
	@$(SWIFT) run epoch serve

release: ## Build the static release binary .build/release/epoch with the checkout's rev
	@echo "==> swift build $(RELEASE_FLAGS) (rev $(REV))"
	@mkdir -p .build
	@# glibc's "Using 'getaddrinfo' in statically linked applications" warnings are expected: the
	@# server binds numeric addresses and never resolves names or users.
	@$(SWIFT) build $(RELEASE_FLAGS) --product epoch 2>&1 \
	  | { grep -vE "statically linked applications requires at runtime|use of .mktemp. is dangerous|: in function \`" || true; }
	@echo "==> $(RELEASE_BIN): $$(du -h $(RELEASE_BIN) | cut -f1), rev $$($(RELEASE_BIN) --version)"

link-order: ## Regenerate tools/link-order.txt: the functions serve runs to idle, placed first by the release link (callgrind)
	@echo "==> scripts/link-order"
	@RELEASE_SWIFT_FLAGS="$(RELEASE_SWIFT_FLAGS)" scripts/link-order
	@$(MAKE) --no-print-directory release

# The unit and in-process tests run under ThreadSanitizer (debug, .build/tsan, the tree lint-imports
# checks): a plain debug `swift test` would check nothing this run does not, and a second debug
# build of the test graph would cost minutes of make test's budget (docs/reliability.md). The
# tests run one at a time (mk/sanitizers.mk says why).
swift-test: ## Swift unit and in-process tests (swift test) under ThreadSanitizer, in .build/tsan
	@echo "==> swift test --no-parallel $(TSAN_BUILD_FLAGS) (TSAN_OPTIONS=$(TSAN_TEST_OPTIONS))"
	@TSAN_OPTIONS='$(TSAN_TEST_OPTIONS)' $(SWIFT) test --no-parallel $(TSAN_BUILD_FLAGS)

# The https:// tests need a build with the TLS trait: the AddressSanitizer tree's `epoch`
# (mk/sanitizers.mk), which make test builds anyway, rather than one more debug build. Leaks are
# not checked in these short-lived commands (asan-test checks them in the tests).
e2e-test: release asan-build ## End-to-end tests of the release binary (and the ASan TLS build for https://): HTTP, command line, signals, sync and check (pytest -m binary)
	@echo "==> pytest -m binary Tests/e2e against $(RELEASE_BIN) (TLS build: $(ASAN_TLS_BIN))"
	@EPOCH_TLS_BINARY='$(ASAN_TLS_BIN)' ASAN_OPTIONS='detect_leaks=0' $(PYTEST) -q -m binary Tests/e2e

TEST_TARGETS += swift-test e2e-test
