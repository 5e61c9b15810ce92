# The release pipeline (.github/workflows/release.yml, .travis.yml): its deploy commands, run per branch
# against a fake kubectl (docs/continuous-delivery.md).
.PHONY: release-pipeline-test

TEST_TARGETS += release-pipeline-test

release-pipeline-test: ## Run release.yml's deploy commands per branch against a fake kubectl; check workflow policy
	@command -v openssl >/dev/null || { echo "release-pipeline-test: openssl is missing (make deps installs it)" >&2; exit 1; }
	@echo "release-pipeline-test: pytest Tests/e2e/test_release_pipeline.py"
	@$(PYTEST) -q Tests/e2e/test_release_pipeline.py
