# The Swift package: build, run from source, unit and in-process tests, the release binary.
RELEASE_BIN  := .build/release/epoch
# The linker's map of the release link, which `make size` reads. Not under .build/release: on a
# fresh clone that link is only made once SwiftPM has finished, and the linker cannot open the map.
RELEASE_MAP  := .build/epoch-release.map
# The server build the image ships (issue 10, docs/benchmark.md): fully static (glibc linked in) so the
# scratch image needs nothing but the binary; without the TLS trait (no https:// client: a scratch
# image has no trust roots; the server links swift-nio-ssl anyway, for NTS-KE); every function of every target, C and Swift, in a section of its own, so the linker
# drops what is never called (-1.0 MB of the two BoringSSLs, -0.25 MB of Swift) and can place the
# start-up code together (tools/link-order.txt); exclusivity checked at compile time only: the
# run-time checks sit in NIO's per-read path (+4 % req/s in an A/B run, measured together with
# ConnectionGuard's whole-read fast path: docs/benchmark.md), and a violation would no longer
# trap. Package.swift adds the release link's settings.
RELEASE_SWIFT_FLAGS := -c release --disable-default-traits -Xswiftc -static-executable \
  -Xcc -ffunction-sections -Xcc -fdata-sections -Xswiftc -Xfrontend -Xswiftc -function-sections \
  -Xswiftc -enforce-exclusivity=unchecked
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

swift-test: ## Swift unit and in-process HTTP tests (swift test)
	@echo "==> swift test"
	@$(SWIFT) test

e2e-test: release ## End-to-end tests of the release binary (pytest Tests/e2e/test_binary.py, test_sync.py)
	@echo "==> swift build --product epoch (the default traits, TLS among them, for the https:// tests)"
	@$(SWIFT) build --product epoch
	@echo "==> pytest Tests/e2e/test_binary.py Tests/e2e/test_sync.py against $(RELEASE_BIN)"
	@$(PYTEST) -q Tests/e2e/test_binary.py Tests/e2e/test_sync.py

TEST_TARGETS += swift-test e2e-test
