"""Helpers for test_k8s.py: rendering the overlays, finding objects, podman with the project's conf."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import yaml

from harness.certificates import make_tls_files
from harness.commands import run
from harness.paths import REPO_ROOT
K8S_DIR = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("staging", "production", "canary")
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


# ------------------------------------------------------------------------------------------------
# A fake API server that enforces a rendered Role, for the deployer's end-to-end test
# ------------------------------------------------------------------------------------------------
NON_RESOURCE_PREFIXES = ("/api", "/apis", "/version", "/openapi")  # system:discovery allows these


class FakeAPIServer:
    """Serves discovery and one Deployment over TLS, checks the bearer token, and authorizes every
    resource request against the rules of one rendered Role, the way RBAC does (verb from the
    method, name from the path or from a metadata.name field selector). Denied requests get 403.
    `requests` records (verb, resource, name, allowed) for each resource request."""

    def __init__(self, tls_dir: Path, token: str, role: dict, deployment: dict):
        self.token, self.role = token, role
        self.namespace = role["metadata"]["namespace"]
        self.deployment = json.loads(json.dumps(deployment))
        meta = self.deployment["metadata"]
        meta.update(generation=1, resourceVersion="1", uid="00000000-0000-0000-0000-000000000001")
        self._status(done=True)
        self.requests: list[tuple[str, str, str, bool]] = []
        self.patches: list[dict] = []
        self.queries: list[tuple[str, str]] = []
        self.stuck = False  # True: rollouts never finish (new pods that never become ready)
        _, crt, key = make_tls_files(tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        self.ca_file = tls_dir / "ca.crt"
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_PATCH(self):
                server._handle(self, "PATCH")

            def do_PUT(self):
                server._handle(self, "PUT")

            def do_POST(self):
                server._handle(self, "POST")

            def do_DELETE(self):
                server._handle(self, "DELETE")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the Deployment's status: "done" as the controller would report it after a rollout
    def _status(self, done: bool) -> None:
        d = self.deployment
        n = d["spec"].get("replicas", 1)  # the API server's default
        gen = d["metadata"]["generation"]
        d["status"] = {"observedGeneration": gen, "replicas": n, "updatedReplicas": n if done else 0,
                       "readyReplicas": n, "availableReplicas": n}

    def _apply_patch(self, patch: dict) -> bool:
        """Applies a PATCH to the Deployment; False refuses it. Here: the container images only
        (what `kubectl set image` sends); test_deploy_path.py's server merges whole patches."""
        for c in patch.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for mine in self.deployment["spec"]["template"]["spec"]["containers"]:
                if mine["name"] == c.get("name") and "image" in c:
                    mine["image"] = c["image"]
        return True

    def _send(self, h, code: int, obj: dict | None = None) -> None:
        body = json.dumps(obj or {}).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _status_error(self, h, code: int, reason: str, message: str) -> None:
        self._send(h, code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": reason, "message": message, "code": code})

    def _allowed(self, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        if namespace != self.namespace:
            return False
        for rule in self.role["rules"]:
            if (group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
                    and verb in rule.get("verbs", [])
                    and (not rule.get("resourceNames") or name in rule["resourceNames"])):
                return True
        return False

    def _handle(self, h, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._status_error(h, 401, "Unauthorized", "bad or missing bearer token")
        parts = [p for p in url.path.split("/") if p]
        # Resource paths: /api/v1/namespaces/NS/RES[/NAME] and /apis/GROUP/VERSION/namespaces/NS/RES[/NAME]
        if parts[:1] == ["api"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"]:
            group, rest = (parts[1] if len(parts) > 1 else ""), parts[3:]
        else:
            group, rest = "", []
        if len(rest) < 3 or rest[0] != "namespaces":
            if method == "GET" and url.path.startswith(NON_RESOURCE_PREFIXES):
                return self._discovery(h, url.path)
            self.requests.append((method, url.path, "", False))
            return self._status_error(h, 403, "Forbidden", f"{url.path} is not allowed")
        namespace, resource, name = rest[1], rest[2], (rest[3] if len(rest) > 3 else "")
        if len(rest) > 4:
            resource += "/" + rest[4]
        if method == "GET" and not name:
            verb = "watch" if query.get("watch", ["false"])[0] in ("true", "1") else "list"
            selector = query.get("fieldSelector", [""])[0]
            if selector.startswith("metadata.name="):
                name = selector.split("=", 1)[1]
        else:
            verb = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}[method]
        allowed = self._allowed(verb, group, resource, namespace, name)
        self.requests.append((verb, f"{group}/{resource}", name, allowed))
        self.queries.append((verb, url.query))
        if not allowed:
            return self._status_error(h, 403, "Forbidden",
                                      f'cannot {verb} resource "{resource}" in API group "{group}" in namespace "{namespace}"')
        if (group, resource) != ("apps", "deployments") or name != self.deployment["metadata"]["name"]:
            return self._status_error(h, 404, "NotFound", f"{resource} {name!r} not found")
        if verb == "get":
            return self._send(h, 200, self.deployment)
        if verb == "patch":
            patch = json.loads(body)
            self.patches.append(patch)
            if not self._apply_patch(patch):
                return self._status_error(h, 422, "Invalid", "the patch was refused")
            meta = self.deployment["metadata"]
            meta["generation"] += 1
            meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
            self._status(done=False)  # the rollout starts; the watch below finishes it
            return self._send(h, 200, self.deployment)
        if verb == "list":
            return self._send(h, 200, {"kind": "DeploymentList", "apiVersion": "apps/v1",
                                       "metadata": {"resourceVersion": self.deployment["metadata"]["resourceVersion"]},
                                       "items": [self.deployment]})
        if verb == "watch":
            meta = self.deployment["metadata"]
            events = []
            if query.get("sendInitialEvents", ["false"])[0] == "true":
                # A streaming list (client-go's WatchList): the current state, then the bookmark
                # that ends the initial events.
                events.append({"type": "ADDED", "object": json.loads(json.dumps(self.deployment))})
                events.append({"type": "BOOKMARK", "object": {
                    "kind": "Deployment", "apiVersion": "apps/v1", "metadata": {
                        "resourceVersion": meta["resourceVersion"],
                        "annotations": {"k8s.io/initial-events-end": "true"}}}})
            self._status(done=not self.stuck)  # the controller finishes the rollout (unless stuck)
            meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
            events.append({"type": "MODIFIED", "object": self.deployment})
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for e in events:
                line = json.dumps(e).encode() + b"\n"
                h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            h.wfile.flush()
            time.sleep(2)  # kubectl stops watching once an event says the rollout is done
            h.wfile.write(b"0\r\n\r\n")
            return None
        return self._status_error(h, 405, "MethodNotAllowed", verb)

    def _discovery(self, h, path: str) -> None:
        if path == "/api":
            return self._send(h, 200, {"kind": "APIVersions", "versions": ["v1"],
                                       "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            return self._send(h, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]})
        if path == "/api/v1":
            return self._send(h, 200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                 "verbs": ["get", "list", "watch"], "shortNames": ["po"]}]})
        if path == "/apis/apps/v1":
            return self._send(h, 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
                {"name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["deploy"]},
                {"name": "replicasets", "singularName": "replicaset", "namespaced": True, "kind": "ReplicaSet",
                 "verbs": ["get", "list", "watch"], "shortNames": ["rs"]}]})
        if path == "/version":
            return self._send(h, 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0"})
        return self._status_error(h, 404, "NotFound", path)
