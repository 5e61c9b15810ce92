"""Helpers for the deploy-path tests: scripts/deploy and scripts/kubeconfig run with exactly the given
settings, and a cluster (fakes/api_server.py) holding an overlay as an administrator applied it."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path

from fakes.api_server import FakeAPIServer
from harness.commands import run
from harness.kubernetes import kubectl
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


def write_kubeconfig(tmp: Path, api: FakeAPIServer, token: str, namespace: str) -> Path:
    """tmp/kube/config, written by scripts/kubeconfig as CI writes it, for `token` on the running
    fake API server `api` (its CA inline), defaulting to `namespace`."""
    config = tmp / "kube" / "config"
    made = kubeconfig_script(tmp, KUBE_SERVER=api.url, KUBE_TOKEN=token, KUBE_NAMESPACE=namespace,
                             KUBE_CA=base64.b64encode(api.ca_file.read_bytes()).decode(),
                             KUBECONFIG_OUT=str(config))
    assert made.returncode == 0, made.stderr
    return config


def live_deployment(rendered: dict, replicas: int | None = None) -> dict:
    """An object as a cluster holds it after an administrator's `kubectl apply` of `rendered` (with
    kubectl's last-applied annotation), and a Deployment after the HPA scaled it to `replicas`."""
    live = copy.deepcopy(rendered)
    config = copy.deepcopy(rendered)
    live.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(config, sort_keys=True)
    if replicas is not None:
        live["spec"]["replicas"] = replicas
    return live


# The Secrets an administrator makes by hand in each namespace before the first apply
# (docs/continuous-delivery.md): the pull secret and the Roughtime key.
HAND_MADE_SECRETS = ("registry-pull", "epoch-roughtime-key")


def installed_cluster(tls_dir: Path, docs: list[dict], tokens: dict, replicas: int = 5, admit=None) -> FakeAPIServer:
    """A fake API server holding every object of a rendering as applied (the Deployment scaled to
    `replicas`) and the hand-made Secrets of its namespace."""
    namespaces = {d["metadata"].get("namespace") for d in docs if d["metadata"].get("namespace")}
    live = [d if LAST_APPLIED in d["metadata"].get("annotations", {})  # already live
            else live_deployment(d, replicas if d["kind"] == "Deployment" else None) for d in docs]
    secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": "Opaque"}
               for ns in namespaces for name in HAND_MADE_SECRETS]
    return FakeAPIServer(tls_dir, tokens, live + secrets, admit=admit)
