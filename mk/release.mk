# The release pipeline (.github/workflows/release.yml, .travis.yml): its deploy commands, run per branch
# against a fake kubectl (docs/continuous-delivery.md); and the production registry's compose file.
.PHONY: release-pipeline-test install-from-zero-test

TEST_TARGETS += release-pipeline-test install-from-zero-test

release-pipeline-test: ## The release scripts per branch against the fake kubectl/cosign/gh/docker; the workflows' wiring and policy; Travis; the registry's compose file
	@command -v openssl >/dev/null || { echo "release-pipeline-test: openssl is missing (make deps installs it)" >&2; exit 1; }
	@echo "release-pipeline-test: pytest -m release_pipeline Tests/e2e"
	@$(PYTEST) -q -m release_pipeline Tests/e2e

install-from-zero-test: ## docs/continuous-delivery.md's first install, run as written against the fake API server (with and without CRDs; the old order must fail)
	@$(k8s_need_kubectl)
	@echo "install-from-zero-test: pytest -m install_from_zero Tests/e2e (kubectl $(KUBECTL))"
	@KUBECTL='$(KUBECTL)' $(PYTEST) -q -m install_from_zero Tests/e2e

# CI's split of `make test` (.github/workflows/ci.yml): podman does not work inside a job container
# on GitHub's cgroup-v2 runners (podman#24737), so the targets that run podman run on the runner
# itself with the release binary the Swift container built (`make -o release`: not rebuilt there).
PODMAN_TEST_TARGETS := container-test registry-test k8s-test

.PHONY: test-no-podman test-podman

test-no-podman: deps ## make test without the podman targets (CI's Swift container job); then make release
	@+$(call run_tests,test-no-podman,$(filter-out $(PODMAN_TEST_TARGETS),$(ORDERED_TESTS)))
	@$(MAKE) --no-print-directory release

test-podman: ## The podman targets with an already built .build/release/epoch (CI's runner job: no Swift there)
	@test -x $(RELEASE_BIN) || { echo "test-podman: $(RELEASE_BIN) is missing: make release (or CI's artifact)" >&2; exit 1; }
	@+$(call run_tests,test-podman,$(filter $(PODMAN_TEST_TARGETS),$(ORDERED_TESTS)),-o release)
