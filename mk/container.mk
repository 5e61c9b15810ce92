# Container image: the root Dockerfile (build stage on swift:6.3-noble, runtime stage FROM scratch).
# docs/container.md explains the targets; scripts/image-* do the work and print every command.
.PHONY: image build build-no-cache run run-stop push hadolint container-test

# podman when installed (CI and these machines), else docker; ENGINE=docker|podman overrides.
ifeq ($(origin ENGINE),undefined)
ENGINE := $(shell if command -v podman >/dev/null 2>&1; then echo podman; \
                  elif command -v docker >/dev/null 2>&1; then echo docker; else echo podman; fi)
endif
# podman stores local builds under localhost/; IMAGE=... overrides the name (tags: REV and latest).
IMAGE       ?= $(if $(filter podman,$(notdir $(ENGINE))),localhost/)swift-microepoch
SWIFT_IMAGE ?= docker.io/library/swift:6.3-noble
CONTAINER   ?= swift-microepoch
PORT        ?= 8080
HADOLINT    := $(VENV)/bin/hadolint

image_env = ENGINE='$(ENGINE)' IMAGE='$(IMAGE)' REV='$(REV)' BRANCH='$(BRANCH)'

TEST_TARGETS += container-test

image: release ## Build IMAGE:REV and :latest offline: the Dockerfile's runtime stage around the `make release` binary
	@$(image_env) scripts/image-build offline

build: ## Build IMAGE:REV and :latest with the full multi-stage Dockerfile (needs the swift:6.3-noble image or network)
	@$(image_env) SWIFT_IMAGE='$(SWIFT_IMAGE)' SWIFT_SDK='$(SWIFT_SDK)' SWIFT_SDK_URL='$(SWIFT_SDK_URL)' \
	  SWIFT_SDK_CHECKSUM='$(SWIFT_SDK_CHECKSUM)' scripts/image-build full

build-no-cache: ## Like build, without the layer cache
	@$(image_env) SWIFT_IMAGE='$(SWIFT_IMAGE)' SWIFT_SDK='$(SWIFT_SDK)' SWIFT_SDK_URL='$(SWIFT_SDK_URL)' \
	  SWIFT_SDK_CHECKSUM='$(SWIFT_SDK_CHECKSUM)' scripts/image-build full --no-cache

run: ## Run IMAGE:REV detached as CONTAINER on 127.0.0.1:PORT (8080), read-only, no capabilities; replaces an old one
	@$(image_env) CONTAINER='$(CONTAINER)' PORT='$(PORT)' RUN_ENV='$(RUN_ENV)' scripts/image-run

run-stop: ## Stop and remove the container `make run` started
	@$(image_env) CONTAINER='$(CONTAINER)' scripts/image-run stop

push: ## Push IMAGE:REV as REGISTRY/swift-microepoch:REV and :BRANCH (REGISTRY=host:port; DRY_RUN=1); digest in out/push-digest
	@$(image_env) REGISTRY='$(REGISTRY)' REPOSITORY='$(REPOSITORY)' DRY_RUN='$(DRY_RUN)' \
	  REGISTRY_CERT_DIR='$(REGISTRY_CERT_DIR)' REGISTRY_STATE='$(REGISTRY_STATE)' PUSH_DIGEST_FILE='$(PUSH_DIGEST_FILE)' scripts/image-push

hadolint: ## Lint the Dockerfile with hadolint (fails on warnings)
	@test -x $(HADOLINT) || { echo "hadolint: $(HADOLINT) missing: run make deps (tools/pip/container.txt)" >&2; exit 1; }
	@echo "hadolint: hadolint --failure-threshold warning Dockerfile"
	@$(HADOLINT) --failure-threshold warning Dockerfile

container-test: hadolint image ## hadolint, then run the image: running, uid 65532, read-only, no caps, GET /, no shell, drains on stop
	@echo "container-test: pytest -m container Tests/e2e ($(IMAGE):$(REV), $(ENGINE))"
	@$(image_env) $(PYTEST) -q -m container Tests/e2e
