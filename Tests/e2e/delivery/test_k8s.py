"""The Kubernetes manifests (deploy/k8s), as rendered by `kubectl kustomize`, and the deploy scripts.

What users rely on: names, namespaces and hosts; schemas of Kubernetes 1.30 and 1.34; a deployer that
can roll the image and nothing else; probes on the server's real endpoints; a grace period that fits
preStop + drain; and the production Deployment actually serving under `podman kube play`.
scripts/deploy, the deployer against an RBAC-enforcing API server, Gateway API, the NetworkPolicy's
parameters and the admission policy: test_deploy_path.py, test_gateway.py, test_admission_policy.py.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import stat
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from harness.certificates import make_ca_pem
from harness.commands import run
from harness.deploy import kubeconfig_script
from harness.http import EPOCH_JSON_RE, http_get, wait_for_http
from harness.kubernetes import OVERLAYS, kubectl, objects, one, parse_duration, podman, render, selects, selects_map
from harness.ports import free_port
from harness.servers import EpochProcess

pytestmark = pytest.mark.k8s  # make k8s-test

K8S_VERSIONS = ("1.30.0", "1.34.0")
# overlay -> (namespace, app name, Ingress host)
EXPECTED = {
    "staging": ("staging", "epoch-test", "test.epoch.example.com"),
    "production": ("production", "epoch-app", "epoch.example.com"),
    "canary": ("production", "epoch-canary", "epoch.example.com"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
ROLLOUT_TIMEOUT_S = 180  # scripts/deploy's default


def deployment_of(overlay: str) -> dict:
    return one(render(overlay), "Deployment", EXPECTED[overlay][1])


def container_of(dep: dict) -> dict:
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["epoch"], "one container, named epoch"
    return containers[0]


# ------------------------------------------------------------------------------------------------
# Schemas
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay: str, version: str) -> None:
    docs = render(overlay)
    assert docs, f"{overlay} rendered nothing"
    for doc in docs:
        if doc["apiVersion"].startswith("gateway.networking.k8s.io/"):
            continue  # a CRD, not in Kubernetes' schemas: test_gateway.py checks it
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the watch's Prometheus Operator CRDs: no schema in kubernetes-validate
        # strict: unknown fields fail; an unknown apiVersion raises SchemaNotFoundError.
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_validator_catches_typos_and_unknown_api_versions(version: str) -> None:
    """The check above can fail: a misspelled field and a removed apiVersion are both rejected."""
    dep = deployment_of("production")
    typo = copy.deepcopy(dep)
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"periodSeconds": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, version, strict=True)
    hpa = one(render("production"), "HorizontalPodAutoscaler")
    old = dict(hpa, apiVersion="autoscaling/v2beta2")  # removed in 1.26
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(old, version, strict=True)


# ------------------------------------------------------------------------------------------------
# Names, namespaces, hosts
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_names_and_namespaces(overlay: str) -> None:
    namespace, name, host = EXPECTED[overlay]
    docs = render(overlay)
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, f"{doc['kind']} {meta['name']} is cluster-scoped"
        else:
            assert meta.get("namespace") == namespace, f"{doc['kind']} {meta['name']} in {meta.get('namespace')}"
    app_kinds = {"Deployment", "Service", "NetworkPolicy", "ServiceAccount", "PodDisruptionBudget"}
    if overlay != "canary":  # the canary splits production's HTTPRoute and has no Ingress
        app_kinds |= {"HorizontalPodAutoscaler", "Ingress", "HTTPRoute"}
    for kind in app_kinds:
        one(docs, kind, name)
    if overlay != "canary":
        ingress = one(docs, "Ingress", name)
        assert [r["host"] for r in ingress["spec"]["rules"]] == [host]
    assert one(docs, "HTTPRoute")["spec"]["hostnames"] == [host]
    assert not objects(docs, "ClusterRole") and not objects(docs, "ClusterRoleBinding")


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_namespace_enforces_restricted_pod_security(overlay: str) -> None:
    namespace, _, _ = EXPECTED[overlay]
    ns = one(render(overlay), "Namespace", namespace)
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_canary_overlay_carries_no_namespace_or_deployer() -> None:
    """The canary lives beside production: applying it must not re-own production's shared objects."""
    docs = render("canary")
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"Namespace", "Role", "RoleBinding", "Secret", "HorizontalPodAutoscaler", "Ingress"}
    # Everything is the canary's, but production's HTTPRoute, which it splits (test_gateway.py).
    assert all(d["metadata"]["name"].endswith("-canary") for d in docs if d["kind"] != "HTTPRoute")
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "HTTPRoute"] == ["epoch-app"]


# ------------------------------------------------------------------------------------------------
# The deployer
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_deployer_may_roll_only_its_deployment(overlay: str) -> None:
    namespace, name, _ = EXPECTED[overlay]
    docs = render(overlay)
    sa = one(docs, "ServiceAccount", "deployer")
    assert sa["automountServiceAccountToken"] is False
    token = one(docs, "Secret", "deployer-token")
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "deployer"
    assert "data" not in token and "stringData" not in token, "the control plane fills the token in"

    roles = objects(docs, "Role")
    assert [r["metadata"]["name"] for r in roles] == ["deployer"]
    rules = roles[0]["rules"]
    # Exactly: GET + PATCH for `kubectl apply` of the Deployment and the watch DaemonSet (one release
    # on every node), GET + LIST + WATCH (by name) for `rollout status`. Rollback deploys the previous
    # digest: no replicasets.
    assert rules == [{
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "resourceNames": [name],
        "verbs": ["get", "list", "watch", "patch"],
    }, {
        "apiGroups": ["apps"],
        "resources": ["daemonsets"],
        "resourceNames": ["epoch-watch"],
        "verbs": ["get", "list", "watch", "patch"],
    }]
    one(docs, "DaemonSet", "epoch-watch")
    flat = json.dumps(rules)
    assert "*" not in flat and "secrets" not in flat

    bindings = objects(docs, "RoleBinding")
    assert len(bindings) == 1
    binding = bindings[0]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]
    # The Deployment it names exists in this overlay.
    one(docs, "Deployment", name)


# ------------------------------------------------------------------------------------------------
# The Deployment
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_the_servers_endpoints_over_http(overlay: str) -> None:
    c = container_of(deployment_of(overlay))
    port_names = {p["name"]: p["containerPort"] for p in c["ports"] if p["protocol"] == "TCP"}  # UDP: test_k8s_roughtime
    assert port_names == {"http": 8080}
    want = {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in want.items():
        p = c[probe]
        assert "exec" not in p, "the image has no shell"
        assert p["httpGet"]["path"] == path, probe
        assert p["httpGet"]["port"] in ("http", 8080), probe
    ready = c["readinessProbe"]
    assert ready["periodSeconds"] == 2 and 1 <= ready["failureThreshold"] <= 2


def test_probe_paths_are_routes_of_the_server(release_binary, tmp_path: Path) -> None:
    """The probed paths answer 200 on the real server, started with the manifest's own settings
    (the Roughtime key, a mounted Secret in the pod, made here, and any free UDP port)."""
    c = container_of(deployment_of("production"))
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e and e["name"] not in ("EPOCH_HOST", "EPOCH_PORT")}
    if "EPOCH_ROUGHTIME_KEY" in env:
        key = tmp_path / "roughtime.key"
        subprocess.run([str(release_binary), "roughtime", "keygen", str(key)], check=True, capture_output=True)
        env.update(EPOCH_ROUGHTIME_KEY=str(key), EPOCH_ROUGHTIME_PORT="0")
    server = EpochProcess(release_binary, env=env)
    try:
        server.wait_ready()
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            path = c[probe]["httpGet"]["path"]
            assert http_get(server.url + path)[0] == 200, f"{probe} {path}"
        assert http_get(server.url + "/no-such-probe")[0] == 404, "the control: a path the server lacks"
    finally:
        server.stop()


def test_duration_parsing_is_the_servers(release_binary) -> None:
    """parse_duration reads what the server reads, and rejects what it rejects (`1m30s`)."""
    assert parse_duration("4s") == 4 and parse_duration("250ms") == 0.25 and parse_duration("1.5m") == 90
    for text in ("1m30s", "4", "s", "4 s", "4sec"):
        with pytest.raises(ValueError):
            parse_duration(text)
        proc = subprocess.run([str(release_binary), "serve", "--shutdown-delay", text], capture_output=True,
                              text=True, timeout=10)
        assert proc.returncode == 2, (text, proc.returncode, proc.stderr)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_prestop_and_drain(overlay: str) -> None:
    pod = deployment_of(overlay)["spec"]["template"]["spec"]
    c = container_of(deployment_of(overlay))
    pre_stop = c["lifecycle"]["preStop"]
    assert set(pre_stop) == {"sleep"}, "native sleep action: the image has no shell and no sleep binary"
    sleep_s = pre_stop["sleep"]["seconds"]
    env = {e["name"]: e["value"] for e in c["env"]}
    shutdown_delay = parse_duration(env["EPOCH_SHUTDOWN_DELAY"])
    request_timeout = parse_duration(env["EPOCH_REQUEST_TIMEOUT"])
    ready = c["readinessProbe"]
    unready_after = ready["periodSeconds"] * ready["failureThreshold"]
    # After SIGTERM the server answers /readyz 503 for the shutdown delay, which must outlast the
    # probes that notice it; then in-flight requests finish (bounded by the request timeout).
    assert shutdown_delay >= unready_after
    needed = sleep_s + shutdown_delay + request_timeout
    margin = 5
    assert sleep_s >= 5, "time for kube-proxy and ingress controllers to drop the endpoint"
    assert needed + margin <= pod["terminationGracePeriodSeconds"], (
        f"preStop {sleep_s}s + shutdown delay {shutdown_delay}s + request timeout {request_timeout}s"
        f" + {margin}s margin > terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_is_hardened(overlay: str) -> None:
    dep = deployment_of(overlay)
    pod = dep["spec"]["template"]["spec"]
    c = container_of(dep)
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 65532 and psc["runAsGroup"] == 65532
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert csc.get("privileged", False) is False
    assert csc.get("runAsUser", 65532) == 65532
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == EXPECTED[overlay][1]
    sa = one(render(overlay), "ServiceAccount", EXPECTED[overlay][1])
    assert sa["automountServiceAccountToken"] is False
    assert "hostNetwork" not in pod and "hostPID" not in pod and "hostIPC" not in pod


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_follow_the_measured_footprint(overlay: str) -> None:
    res = container_of(deployment_of(overlay))["resources"]
    assert res["requests"] == {"cpu": "50m", "memory": "32Mi"}
    assert res["limits"] == {"memory": "64Mi"}, "memory limit only (no CPU limit: see deployment.yaml)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollout_settings(overlay: str) -> None:
    spec = deployment_of(overlay)["spec"]
    strategy = spec["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] in (1, "25%")
    assert spec["minReadySeconds"] > 0
    assert 0 < spec["progressDeadlineSeconds"] < ROLLOUT_TIMEOUT_S, "a stuck rollout must report before deploy gives up"
    assert 0 < spec["revisionHistoryLimit"] <= 10
    labels = spec["template"]["metadata"]["labels"]
    assert selects(spec["selector"], labels) and "matchExpressions" not in spec["selector"]
    for key in ("name", "instance", "part-of", "component", "managed-by"):
        assert labels[f"app.kubernetes.io/{key}"], key
    assert labels["app.kubernetes.io/instance"] == EXPECTED[overlay][1]
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert [t["topologyKey"] for t in spread] == ["kubernetes.io/hostname"]
    assert selects(spread[0]["labelSelector"], labels)
    ann = spec["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
    assert int(ann["prometheus.io/port"]) == container_of(deployment_of(overlay))["ports"][0]["containerPort"]


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_autoscaling_and_disruption_budget(overlay: str) -> None:
    _, name, _ = EXPECTED[overlay]
    docs = render(overlay)
    dep = one(docs, "Deployment", name)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    hpa = one(docs, "HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": hpa["spec"]["metrics"][0]
                                  ["resource"]["target"]["averageUtilization"]}}}]
    assert 0 < hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] <= 100
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA owns the count: a rendered `replicas` would reset it on every apply.
    assert "replicas" not in dep["spec"]
    pdb = one(docs, "PodDisruptionBudget", name)
    assert selects(pdb["spec"]["selector"], labels)
    # One pod may go while at least one other serves.
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_ingress_and_network_policy_reach_the_pods(overlay: str) -> None:
    namespace, name, host = EXPECTED[overlay]
    docs = render(overlay)
    dep = one(docs, "Deployment", name)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service", name)
    assert selects_map(svc["spec"]["selector"], labels)
    [port] = [p for p in svc["spec"]["ports"] if p["protocol"] == "TCP"]  # UDP: test_k8s_roughtime
    assert port["targetPort"] == "http"

    if overlay != "canary":
        ingress = one(docs, "Ingress", name)
        # Plain: no controller's annotations, no class (the cluster's default IngressClass).
        assert "ingressClassName" not in ingress["spec"]
        assert set(ingress["metadata"].get("annotations", {})) == {"cert-manager.io/cluster-issuer"}
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        routed = {p["path"] for p in paths}
        assert "/" in routed and not routed & {"/metrics", "/healthz", "/readyz"}, "internal endpoints stay internal"
        for p in paths:
            assert p["pathType"] in ("Exact", "Prefix")
            assert p["backend"]["service"] == {"name": name, "port": {"name": port["name"]}}
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "epoch-tls"}]

    policy = one(docs, "NetworkPolicy", name)
    spec = policy["spec"]
    assert selects(spec["podSelector"], labels)
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"] and not spec.get("egress"), "no egress"
    # Roughtime's open UDP rule: test_k8s_roughtime; the watch's pod rule: test_k8s_watch_overlay.
    [rule] = [r for r in spec["ingress"] if any("namespaceSelector" in p for p in r.get("from", []))]
    assert all(set(p) == {"namespaceSelector"} for p in rule["from"])
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert all(r["ports"] == [{"port": "http", "protocol": "TCP"}] for r in spec["ingress"] if "from" in r)


def test_canary_splits_production_traffic_without_stealing_its_pods() -> None:
    prod, canary = render("production"), render("canary")
    prod_pods = one(prod, "Deployment")["spec"]["template"]["metadata"]["labels"]
    can_pods = one(canary, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for docs, name in ((prod, "epoch-app"), (canary, "epoch-canary")):  # production has the watch's policy too
        for kind, sel in (("Service", lambda o: {"matchLabels": o["spec"]["selector"]}),
                          ("Deployment", lambda o: o["spec"]["selector"]),
                          ("NetworkPolicy", lambda o: o["spec"]["podSelector"])):
            s = sel(one(docs, kind, name))
            assert selects(s, prod_pods) != selects(s, can_pods), f"{kind} selects both production and canary pods"
    # Two pods, so a drain (PDB maxUnavailable 1) never leaves the canary's share of requests without one.
    assert one(canary, "Deployment")["spec"]["replicas"] == 2
    assert one(canary, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# ------------------------------------------------------------------------------------------------
# scripts/kubeconfig
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca_b64() -> str:
    return base64.b64encode(make_ca_pem()).decode()


def test_kubeconfig_is_private_valid_and_quiet(tmp_path: Path, ca_b64: str) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48) + "." + secrets.token_urlsafe(32)
    out = tmp_path / "kube" / "config"
    env = dict(KUBE_SERVER="https://127.0.0.1:6443", KUBE_CA=ca_b64, KUBE_TOKEN=token,
               KUBE_NAMESPACE="staging", KUBECONFIG_OUT=str(out))
    for _ in range(2):  # safe to run again
        proc = kubeconfig_script(tmp_path, **env)
        assert proc.returncode == 0, proc.stderr
        assert token not in proc.stdout and token not in proc.stderr
        assert token[-20:] not in proc.stdout + proc.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert proc.stdout.splitlines()[-1] == f"export KUBECONFIG={out}"
        assert str(out) in proc.stdout.splitlines()[0]
    assert not [p for p in out.parent.iterdir() if p.name != "config"], "no temporary file left behind"

    view = json.loads(run([kubectl(), "config", "view", "--kubeconfig", str(out), "-o", "json"]).stdout)
    assert view["current-context"] == "deployer@staging"
    [ctx] = view["contexts"]
    assert ctx["context"]["namespace"] == "staging" and ctx["context"]["user"] == "deployer"
    [cluster] = view["clusters"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    raw = json.loads(run([kubectl(), "config", "view", "--kubeconfig", str(out), "--raw", "-o", "json"]).stdout)
    assert raw["users"][0]["user"]["token"] == token
    assert raw["clusters"][0]["cluster"]["certificate-authority-data"] == ca_b64
    # `kubectl config view` redacts the token: what a debugging user prints does not leak it.
    assert token not in json.dumps(view)


def test_kubeconfig_default_location_is_ignored_by_git(tmp_path: Path, ca_b64: str) -> None:
    proc = kubeconfig_script(tmp_path, KUBE_SERVER="https://k8s.example.com", KUBE_CA=ca_b64,
                             KUBE_TOKEN="abc.def.ghi", KUBE_NAMESPACE="production")
    assert proc.returncode == 0, proc.stderr
    cfg = tmp_path / ".kube" / "config"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    assert (cfg.parent / ".gitignore").read_text() == "*\n"


@pytest.mark.parametrize("change, message", [
    ({"KUBE_TOKEN": ""}, "KUBE_TOKEN is not set"),
    ({"KUBE_TOKEN": "secret with spaces"}, "KUBE_TOKEN holds characters"),
    ({"KUBE_SERVER": "http://insecure:8080"}, "not an https:// URL"),
    ({"KUBE_CA": "bm90IGEgY2VydGlmaWNhdGU="}, "does not decode to a PEM certificate"),
    ({"KUBE_NAMESPACE": "Bad_NS"}, "not a namespace name"),
])
def test_kubeconfig_rejects_bad_input_without_leaking(tmp_path: Path, ca_b64: str, change: dict, message: str) -> None:
    env = dict(KUBE_SERVER="https://127.0.0.1:6443", KUBE_CA=ca_b64, KUBE_TOKEN="tok.en.value",
               KUBE_NAMESPACE="staging", KUBECONFIG_OUT=str(tmp_path / "config"))
    env.update(change)
    proc = kubeconfig_script(tmp_path, **env)
    assert proc.returncode == 1 and message in proc.stderr
    assert not (tmp_path / "config").exists()
    if env["KUBE_TOKEN"]:
        assert env["KUBE_TOKEN"] not in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------------
# podman kube play of the production Deployment
# ------------------------------------------------------------------------------------------------
KUBE_NETWORK = "podman-default-kube-network"


def play_image() -> str:
    image = os.environ.get("K8S_PLAY_IMAGE")
    if not image:
        rev = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        image = f"localhost/swift-microepoch:{rev}"
    return image


def pods_of(deployment: str) -> list[str]:
    """Pods kube play made for the Deployment (podman 4.3 names them DEPLOYMENT-pod-0, -1, ...)."""
    pods = json.loads(podman("pod", "ps", "--format", "json").stdout or "[]")
    return [p["Name"] for p in pods if re.fullmatch(rf"{re.escape(deployment)}-pod(-\d+)?", p["Name"])]


def epoch_container_of(deployment: str) -> str:
    [pod] = pods_of(deployment)
    containers = json.loads(podman("ps", "--all", "--filter", f"pod={pod}", "--format", "json").stdout)
    names = [n for c in containers for n in c["Names"] if n.endswith("-epoch")]
    assert len(names) == 1, f"want one container named *-epoch in {pod}: {containers}"
    return names[0]


def strip_roughtime(dep: dict) -> None:
    """Removes what deploy/k8s/components/roughtime adds to the pod (test_k8s_roughtime checks it)."""
    spec = dep["spec"]["template"]["spec"]
    c = container_of(dep)
    c["env"] = [e for e in c["env"] if not e["name"].startswith("EPOCH_ROUGHTIME_")]
    c["ports"] = [p for p in c["ports"] if p["name"] != "roughtime"]
    c.pop("volumeMounts", None)
    spec.pop("volumes", None)


def test_podman_kube_play_serves_the_production_deployment(tmp_path: Path) -> None:
    image = play_image()
    assert podman("image", "exists", image, check=False).returncode == 0, f"{image} is missing: run make image"
    dep = deployment_of("production")
    name = dep["metadata"]["name"]
    port = free_port()
    # Adjusted for podman: the local image, one replica, the port published on loopback only.
    dep["spec"]["replicas"] = 1
    c = container_of(dep)
    c["image"] = image
    c["imagePullPolicy"] = "Never"
    strip_roughtime(dep)  # its key Secret does not exist under podman
    [p] = c["ports"]
    p.update(hostPort=port, hostIP="127.0.0.1")
    manifest = tmp_path / "production-deployment.yaml"
    manifest.write_text(yaml.safe_dump(dep, sort_keys=False))

    try:
        podman("kube", "play", str(manifest), timeout=180)
        body = wait_for_http(f"http://127.0.0.1:{port}/", timeout=60).decode()
        assert EPOCH_JSON_RE.match(body), body
        # The probes' paths answer 200 on the real server.
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            path = c[probe]["httpGet"]["path"]
            assert http_get(f"http://127.0.0.1:{port}{path}")[0] == 200, f"{probe} {path}"
        # podman applied the securityContext: uid 65532, read-only root file system.
        info = json.loads(podman("container", "inspect", epoch_container_of(name)).stdout)[0]
        assert info["Config"]["User"].split(":")[0] == "65532"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        # Published on loopback only (the pod's infra container holds the ports).
        pod_info = json.loads(podman("pod", "inspect", pods_of(name)[0]).stdout)
        pod_info = pod_info[0] if isinstance(pod_info, list) else pod_info
        assert pod_info["InfraConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    finally:
        down = podman("kube", "down", str(manifest), check=False, timeout=120)
        # kube play creates this network and kube down leaves it behind.
        podman("network", "rm", KUBE_NETWORK, check=False)
    assert down.returncode == 0, down.stderr
    assert not pods_of(name), "kube down left the pod"
    assert podman("network", "exists", KUBE_NETWORK, check=False).returncode != 0, "the kube network is left"
