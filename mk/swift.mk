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

# Not in make test, which runs the same tests under both sanitizers instead (tsan-test, asan-test).
swift-test: ## Swift unit and in-process HTTP tests (swift test; make test runs them under TSan and ASan)
	@echo "==> swift test"
	@$(SWIFT) test

# The https:// tests need the default traits (TLS), which the release build leaves out as the image
# does: they run the ThreadSanitizer tree's `epoch`, make test's one debug build (mk/sanitizers.mk),
# so that a race on that path is reported too (with tsan-test's options and suppressions).
E2E_TLS_BIN := $(TSAN_SCRATCH)/debug/epoch
e2e-test: release ## End-to-end tests of the release binary: HTTP, command line, signals, sync and check (pytest -m binary)
	@echo "==> swift build --product epoch $(TSAN_BUILD_FLAGS) (the default traits, TLS among them, for the https:// tests)"
	@$(SWIFT) build --product epoch $(TSAN_BUILD_FLAGS)
	@echo "==> pytest -m binary Tests/e2e against $(RELEASE_BIN) (https://: $(E2E_TLS_BIN))"
	@EPOCH_TLS_BINARY='$(E2E_TLS_BIN)' TSAN_OPTIONS='$(TSAN_TEST_OPTIONS)' $(PYTEST) -q -m binary Tests/e2e

TEST_TARGETS += e2e-test
