"""Helpers for the deploy-path tests: scripts/deploy, and a fake API server that applies what
`kubectl apply` sends (a strategic merge patch) to the Deployment it holds."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

from harness.commands import run
from harness.kubernetes import FakeAPIServer, kubectl
from harness.paths import REPO_ROOT

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEPLOY_VARS = ("ENV", "APPLY", "IMAGE_REF", "DRY_RUN", "ROLLOUT_TIMEOUT", "RENDER_OUT")


def deploy_script(*, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """scripts/deploy with exactly the given settings (none inherited from the caller's environment)."""
    full = {k: v for k, v in os.environ.items() if k not in DEPLOY_VARS}
    full.update(KUBECTL=kubectl(), KUBECONFIG="/dev/null")
    full.update(env)
    return run([str(REPO_ROOT / "scripts" / "deploy")], env=full, check=check)


def kubeconfig_script(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """scripts/kubeconfig with exactly the given KUBE_* settings."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    full.update(env)
    return run([str(REPO_ROOT / "scripts" / "kubeconfig")], env=full, cwd=cwd, check=False)


# Merge keys of the lists in a Deployment that kubectl's strategic merge patch merges by key
# (k8s.io/api/core/v1 `patchMergeKey` tags); any other list is replaced whole.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
              "topologySpreadConstraints": "topologyKey"}


def strategic_merge(target: dict, patch: dict) -> dict:
    """The part of strategic merge patch that `kubectl apply` of a Deployment uses: maps merge,
    null deletes, keyed lists merge by their key ($patch: delete removes an element), directives
    ($setElementOrder, $retainKeys, $deleteFromPrimitiveList) are order/cleanup hints, ignored here."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = strategic_merge(out[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(out.get(key), list):
            merge_key = MERGE_KEYS[key]
            items = list(out[key])
            for element in value:
                index = next((i for i, e in enumerate(items) if e.get(merge_key) == element.get(merge_key)), None)
                if element.get("$patch") == "delete":
                    if index is not None:
                        items.pop(index)
                elif index is None:
                    items.append({k: v for k, v in element.items() if not k.startswith("$")})
                else:
                    items[index] = strategic_merge(items[index], element)
            out[key] = items
        else:
            out[key] = copy.deepcopy(value)
    return out


def live_deployment(rendered: dict, replicas: int) -> dict:
    """The Deployment as a cluster holds it after an administrator's `kubectl apply` of `rendered`,
    and after the HPA scaled it to `replicas`."""
    live = copy.deepcopy(rendered)
    config = copy.deepcopy(rendered)
    live.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(config, sort_keys=True)
    live["spec"]["replicas"] = replicas
    return live


class ApplyingAPIServer(FakeAPIServer):
    """FakeAPIServer whose PATCH merges the whole strategic merge patch into the Deployment, as
    the API server does for `kubectl apply`; `admit(old, new)` may refuse the result (admission)."""

    def __init__(self, tls_dir: Path, token: str, role: dict, deployment: dict, admit=None):
        super().__init__(tls_dir, token, role, deployment)
        self.admit = admit
        self.refused: list[dict] = []

    def _apply_patch(self, patch: dict) -> bool:
        old = self.deployment
        new = strategic_merge(old, patch)
        if self.admit is not None and not self.admit(old, new):
            self.refused.append(patch)
            return False
        self.deployment = new
        return True

    # OpenAPI v3, just enough for `kubectl apply`: its validation asks whether the server validates
    # fields itself (a `fieldValidation` query parameter on the Deployment's PATCH) and then sends
    # fieldValidation=Strict instead of validating client-side against /openapi/v2 (which this fake
    # does not serve). The patch itself kubectl builds from its compiled-in types.
    OPENAPI_V3_APPS = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": {"/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {"patch": {
            "x-kubernetes-group-version-kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        }}},
    }

    def _discovery(self, h, path: str) -> None:
        if path == "/openapi/v3":
            return self._send(h, 200, {"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=1"}}})
        if path == "/openapi/v3/apis/apps/v1":
            return self._send(h, 200, self.OPENAPI_V3_APPS)
        return super()._discovery(h, path)
