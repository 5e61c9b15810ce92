"""Helpers for test_k8s.py: rendering the overlays, finding objects, podman with the project's conf."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from harness.certificates import make_tls_files
from harness.commands import run
from harness.paths import REPO_ROOT
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
# The table of environments: the tests derive their expectations from it, as the scripts do.
ENVIRONMENTS_FILE = K8S_DIR / "environments" / "environments.yaml"
TABLE = yaml.safe_load(ENVIRONMENTS_FILE.read_text())["spec"]
IMAGE = TABLE["image"]  # registry/repository
OVERLAYS = tuple(e["name"] for e in TABLE["environments"])
# environment -> (namespace, Deployment)
TARGET = {e["name"]: (e["namespace"], e["deployment"]) for e in TABLE["environments"]}
KUBECTL_MIN_MINOR = 27


@functools.cache
def kubectl() -> str:
    """The kubectl make uses (KUBECTL from mk/k8s.mk), else the same choice as mk/k8s.mk makes."""
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    found = shutil.which("kubectl")
    if found:
        out = subprocess.run(
            [found, "version", "--client", "-o", "json"],
            capture_output=True, text=True, env={**os.environ, "KUBECONFIG": "/dev/null"},
        )
        try:
            minor = int(re.sub(r"\D", "", json.loads(out.stdout)["clientVersion"]["minor"]) or 0)
        except (ValueError, KeyError):
            minor = 0
        if minor >= KUBECTL_MIN_MINOR:
            return found
    venv = REPO_ROOT / ".venv" / "bin" / "kubectl"
    assert venv.exists(), "no kubectl >= 1.27 on PATH and none in .venv: run make deps"
    return str(venv)


# The parts of an overlay that use CRDs, each its own kustomization beside the core (overlays/ENV/PART),
# applied only where the API group is served (scripts/deploy).
OPTIONAL_PARTS = {"gateway": "gateway.networking.k8s.io/v1", "monitoring": "monitoring.coreos.com/v1"}


@functools.cache
def core_text(overlay: str) -> str:
    """The overlay's core (kubectl kustomize deploy/k8s/overlays/OVERLAY): built-in kinds only."""
    env = {**os.environ, "KUBECONFIG": "/dev/null"}
    return run([kubectl(), "kustomize", str(K8S_DIR / "overlays" / overlay)], env=env).stdout


@functools.cache
def rendered_text(overlay: str) -> str:
    """Everything an administrator applies on a cluster with every CRD: the core, then gateway/ and
    monitoring/ where the overlay has them."""
    env = {**os.environ, "KUBECONFIG": "/dev/null"}
    texts = [core_text(overlay)]
    for part in OPTIONAL_PARTS:
        if (K8S_DIR / "overlays" / overlay / part / "kustomization.yaml").exists():
            texts.append(run([kubectl(), "kustomize", str(K8S_DIR / "overlays" / overlay / part)], env=env).stdout)
    return "---\n".join(texts)


def render(overlay: str) -> list[dict]:
    """A fresh copy of the overlay's rendered objects (tests may modify it)."""
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in objects(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"want exactly one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def selects(selector: dict | None, labels: dict) -> bool:
    """The one label-selector matcher: a Kubernetes LabelSelector (matchLabels and matchExpressions)
    against an object's labels. An empty selector selects everything, as a NetworkPolicy's
    podSelector does; a missing one (None) selects nothing."""
    if selector is None:
        return False
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        op, key, values = e["operator"], e["key"], e.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def selects_map(selector: dict | None, labels: dict) -> bool:
    """A Service's selector, a plain map of labels: one without labels selects nothing (no endpoints)."""
    return bool(selector) and selects({"matchLabels": selector}, labels)


def parse_duration(text: str) -> float:
    """Seconds of a duration as the server reads it (Sources/EpochCore/DurationText.swift): one
    number and one unit (`4s`, `250ms`, `1.5m`), or a bare 0. `1m30s` is no duration to the server,
    so none here either: raises ValueError."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"([+-]?)(?:(0)|([0-9.]+)(ns|us|µs|ms|s|m|h))", text)
    if not match:
        raise ValueError(f"not a duration the server accepts: {text!r}")
    sign, zero, number, unit = match.groups()
    return 0.0 if zero else float(sign + number) * units[unit]


def podman_env() -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "deploy" / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(["podman", *args], env=podman_env(), check=check, timeout=timeout)
