# Private registry on loopback: docker-registry (distribution 2.8) + htpasswd (bcrypt) behind nginx TLS.
# Configs in deploy/registry/; secrets generated into REGISTRY_STATE at start (docs/container.md).
.PHONY: registry-up registry-down registry-clean registry-test registry-gc-test

REGISTRY_PORT  ?= 5443
REGISTRY_STATE ?= $(CURDIR)/.cache/registry
REGISTRY_USER  ?= epoch
registry_env = REGISTRY_STATE='$(REGISTRY_STATE)' REGISTRY_PORT='$(REGISTRY_PORT)' REGISTRY_USER='$(REGISTRY_USER)'

TEST_TARGETS += registry-test registry-gc-test

registry-up: ## Start the private registry on https://127.0.0.1:REGISTRY_PORT (5443) with a generated user; prints how to log in
	@$(registry_env) scripts/registry-up

registry-down: ## Stop exactly what registry-up started (keeps images and secrets)
	@$(registry_env) scripts/registry-down

registry-clean: ## registry-down, then delete the registry's state (images, password, certificate)
	@$(registry_env) scripts/registry-clean

registry-test: image ## Registry e2e: 401 without login, authenticated push, pull into a clean store (same digest), run it
	@echo "registry-test: pytest -m registry Tests/e2e ($(IMAGE):$(REV))"
	@$(image_env) $(PYTEST) -q -m registry Tests/e2e

registry-gc-test: ## Garbage collection keeps the manifests of an untagged image index (distribution#3004); --delete-untagged must not
	@command -v docker-registry >/dev/null && command -v skopeo >/dev/null \
	  || { echo "registry-gc-test: docker-registry and skopeo are missing (make deps installs them)" >&2; exit 1; }
	@echo "registry-gc-test: pytest -m registry_gc Tests/e2e (docker-registry on loopback, plain HTTP)"
	@$(PYTEST) -q -m registry_gc Tests/e2e
