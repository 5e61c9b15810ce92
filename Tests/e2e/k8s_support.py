"""Helpers for test_k8s.py: rendering the overlays, finding objects, podman with the project's conf."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production", "canary")
# GET / answers this (the server's contract).
EPOCH_JSON_RE = re.compile(
    r'^\{"host":"[^"]+","type":"epoch","data":[0-9]{10},"unit":"sec","rev":"[0-9a-f]{7,}"\}$'
)
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


def run(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None,
        check: bool = True, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd or REPO_ROOT,
                          timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


@functools.cache
def rendered_text(overlay: str) -> str:
    env = {**os.environ, "KUBECONFIG": "/dev/null"}
    return run([kubectl(), "kustomize", str(K8S_DIR / "overlays" / overlay)], env=env).stdout


def render(overlay: str) -> list[dict]:
    """A fresh copy of the overlay's rendered objects (tests may modify it)."""
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in objects(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"want exactly one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def selects(selector: dict, labels: dict) -> bool:
    """matchLabels semantics (the manifests use no matchExpressions; callers assert that)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def parse_duration(text: str) -> float:
    """`4s`, `1m30s`, `250ms` (the server's duration flags) -> seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for_http(url: str, timeout: float) -> tuple[int, str]:
    """Polls until the URL answers 200; returns (status, body). Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url)
            if status == 200:
                return status, body
            last = (status, body)
        except OSError as e:  # refused, reset, timed out while the container starts
            last = e
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s (last: {last!r})")


def podman_env() -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "deploy" / "containers.conf"))
    return env


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(["podman", *args], env=podman_env(), check=check, timeout=timeout)
