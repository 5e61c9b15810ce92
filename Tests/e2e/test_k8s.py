"""The Kubernetes manifests (deploy/k8s), as rendered by `kubectl kustomize`, and the deploy scripts.

What users rely on: names, namespaces and hosts; schemas of Kubernetes 1.30 and 1.34; a deployer that
can roll the image and nothing else; probes on the server's real endpoints; a grace period that fits
preStop + drain; and the production Deployment actually serving under `podman kube play`.
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
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from k8s_support import (
    EPOCH_JSON_RE, OVERLAYS, REPO_ROOT, FakeAPIServer, free_port, http_get, kubectl, objects, one,
    parse_duration, podman, render, rendered_text, run, selects, wait_for_http,
)

K8S_VERSIONS = ("1.30.0", "1.34.0")
# overlay -> (namespace, app name, Ingress host)
EXPECTED = {
    "staging": ("staging", "epoch-test", "test.epoch.example.com"),
    "production": ("production", "epoch-app", "epoch.example.com"),
    "canary": ("production", "epoch-canary", "epoch.example.com"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
DIGEST_REF = "registry.epoch.example.com/swift-microepoch@sha256:" + "ab" * 32
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
    app_kinds = {"Deployment", "Service", "Ingress", "NetworkPolicy", "ServiceAccount", "PodDisruptionBudget"}
    if overlay != "canary":
        app_kinds.add("HorizontalPodAutoscaler")
    for kind in app_kinds:
        one(docs, kind, name)
    ingress = one(docs, "Ingress", name)
    assert [r["host"] for r in ingress["spec"]["rules"]] == [host]
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
    assert not kinds & {"Namespace", "Role", "RoleBinding", "Secret", "HorizontalPodAutoscaler"}
    assert all(d["metadata"]["name"].endswith("-canary") for d in docs)


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
    # Exactly: GET + PATCH for `kubectl set image`, GET + LIST + WATCH (by name) for `rollout status`.
    assert rules == [{
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "resourceNames": [name],
        "verbs": ["get", "list", "watch", "patch"],
    }]
    flat = json.dumps(rules)
    assert "*" not in flat and "secrets" not in flat

    bindings = objects(docs, "RoleBinding")
    assert len(bindings) == 1
    binding = bindings[0]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]
    # The Deployment it names exists in this overlay.
    one(docs, "Deployment", name)


@pytest.mark.parametrize("env", ["staging", "production"])
def test_deploy_script_touches_what_the_role_allows(env: str) -> None:
    """The commands `make deploy APPLY=0` (CI's call) runs address the Role's namespace and Deployment."""
    out = deploy_script(ENV=env, IMAGE_REF=DIGEST_REF, APPLY="0", DRY_RUN="1").stdout
    commands = [line[2:] for line in out.splitlines() if line.startswith("+ kubectl ")]
    namespace, name, _ = EXPECTED[env]
    role = one(render(env), "Role", "deployer")
    assert role["metadata"]["namespace"] == namespace and role["rules"][0]["resourceNames"] == [name]
    assert commands == [
        f"kubectl --namespace {namespace} set image deployment/{name} epoch={DIGEST_REF}",
        f"kubectl --namespace {namespace} rollout status deployment/{name} --timeout=180s",
    ]


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


def test_probe_paths_are_routes_of_the_server() -> None:
    """The probed paths are routes the server defines (Sources/EpochServer), not guesses."""
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "Sources" / "EpochServer").glob("*.swift"))
    c = container_of(deployment_of("production"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert f'"{c[probe]["httpGet"]["path"]}"' in sources, probe


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
    assert selects(spec["selector"]["matchLabels"], labels) and "matchExpressions" not in spec["selector"]
    for key in ("name", "instance", "part-of", "component", "managed-by"):
        assert labels[f"app.kubernetes.io/{key}"], key
    assert labels["app.kubernetes.io/instance"] == EXPECTED[overlay][1]
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert [t["topologyKey"] for t in spread] == ["kubernetes.io/hostname"]
    assert selects(spread[0]["labelSelector"]["matchLabels"], labels)
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
    assert 2 <= hpa["spec"]["minReplicas"] == dep["spec"]["replicas"] < hpa["spec"]["maxReplicas"]
    pdb = one(docs, "PodDisruptionBudget", name)
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    # One pod may go while at least one other serves.
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_ingress_and_network_policy_reach_the_pods(overlay: str) -> None:
    namespace, name, host = EXPECTED[overlay]
    docs = render(overlay)
    dep = one(docs, "Deployment", name)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = one(docs, "Service", name)
    assert selects(svc["spec"]["selector"], labels)
    [port] = [p for p in svc["spec"]["ports"] if p["protocol"] == "TCP"]  # UDP: test_k8s_roughtime
    assert port["targetPort"] == "http"

    ingress = one(docs, "Ingress", name)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    routed = {p["path"] for p in paths}
    assert "/" in routed and not routed & {"/metrics", "/healthz", "/readyz"}, "internal endpoints stay internal"
    for p in paths:
        assert p["pathType"] in ("Exact", "Prefix")
        assert p["backend"]["service"] == {"name": name, "port": {"name": port["name"]}}
    ann = ingress["metadata"].get("annotations", {})
    if overlay == "canary":
        assert ann["nginx.ingress.kubernetes.io/canary"] == "true"
        assert 0 < int(ann["nginx.ingress.kubernetes.io/canary-weight"]) < 100
    else:
        assert ann["cert-manager.io/cluster-issuer"]
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": f"{name}-tls"}]

    policy = one(docs, "NetworkPolicy", name)
    spec = policy["spec"]
    assert selects(spec["podSelector"]["matchLabels"], labels)
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"] and not spec.get("egress"), "no egress"
    [rule] = [r for r in spec["ingress"] if "from" in r]  # Roughtime's open UDP rule: test_k8s_roughtime
    peers = sorted(p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"])
    assert peers == ["ingress-nginx", "monitoring"]
    assert all(set(p) == {"namespaceSelector"} for p in rule["from"])
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_canary_splits_production_traffic_without_stealing_its_pods() -> None:
    prod, canary = render("production"), render("canary")
    prod_ing, can_ing = one(prod, "Ingress"), one(canary, "Ingress")
    assert prod_ing["spec"]["rules"][0]["host"] == can_ing["spec"]["rules"][0]["host"]
    assert {p["path"] for p in prod_ing["spec"]["rules"][0]["http"]["paths"]} == \
        {p["path"] for p in can_ing["spec"]["rules"][0]["http"]["paths"]}
    prod_pods = one(prod, "Deployment")["spec"]["template"]["metadata"]["labels"]
    can_pods = one(canary, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for docs in (prod, canary):
        for kind, sel in (("Service", lambda o: o["spec"]["selector"]),
                          ("Deployment", lambda o: o["spec"]["selector"]["matchLabels"]),
                          ("NetworkPolicy", lambda o: o["spec"]["podSelector"]["matchLabels"])):
            s = sel(one(docs, kind))
            assert selects(s, prod_pods) != selects(s, can_pods), f"{kind} selects both production and canary pods"
    # Two pods, so a drain (PDB maxUnavailable 1) never leaves the canary's share of requests without one.
    assert one(canary, "Deployment")["spec"]["replicas"] == 2
    assert one(canary, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# ------------------------------------------------------------------------------------------------
# scripts/deploy
# ------------------------------------------------------------------------------------------------
def deploy_script(*, check: bool = True, extra_env: dict | None = None, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("ENV", "APPLY", "IMAGE_REF", "DRY_RUN", "ROLLOUT_TIMEOUT")}
    full.update(KUBECTL=kubectl(), KUBECONFIG="/dev/null")
    full.update(env)
    full.update(extra_env or {})
    return run([str(REPO_ROOT / "scripts" / "deploy")], env=full, check=check)


@pytest.fixture
def fake_kubectl(tmp_path: Path):
    """A kubectl that records its arguments; `rollout status` exits FAKE_ROLLOUT_RC."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "kubectl"
    fake.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env bash
        printf '%s\\n' "$*" >> {log}
        case "$*" in
          "config current-context") echo fake-context ;;
          *"rollout status"*) exit "${{FAKE_ROLLOUT_RC:-0}}" ;;
        esac
        """))
    fake.chmod(0o755)
    return fake, log


def test_deploy_applies_sets_image_and_waits(fake_kubectl) -> None:
    fake, log = fake_kubectl
    out = deploy_script(ENV="production", IMAGE_REF=DIGEST_REF, KUBECTL=str(fake), ROLLOUT_TIMEOUT="90s").stdout
    calls = log.read_text().splitlines()
    assert calls == [
        "config current-context",
        "apply -k deploy/k8s/overlays/production",
        f"--namespace production set image deployment/epoch-app epoch={DIGEST_REF}",
        "--namespace production rollout status deployment/epoch-app --timeout=90s",
    ]
    echoed = [line for line in out.splitlines() if line.startswith("+ kubectl ")]
    assert echoed == ["+ kubectl " + c for c in calls[1:]], "every kubectl command is printed before it runs"


def test_deploy_apply_0_only_rolls_the_image(fake_kubectl) -> None:
    fake, log = fake_kubectl
    deploy_script(ENV="staging", IMAGE_REF=DIGEST_REF, APPLY="0", KUBECTL=str(fake))
    calls = log.read_text().splitlines()
    assert not any(c.startswith("apply") for c in calls)
    assert calls[-1] == "--namespace staging rollout status deployment/epoch-test --timeout=180s"


def test_deploy_failed_rollout_advises_undo(fake_kubectl) -> None:
    fake, _ = fake_kubectl
    proc = deploy_script(ENV="staging", IMAGE_REF=DIGEST_REF, APPLY="0", KUBECTL=str(fake), check=False,
                         extra_env={"FAKE_ROLLOUT_RC": "1"})
    assert proc.returncode == 1
    assert "kubectl -n staging rollout undo deployment/epoch-test" in proc.stderr


def test_deploy_stops_without_a_kube_context() -> None:
    # The real kubectl with an empty kubeconfig: no current context.
    proc = deploy_script(ENV="staging", IMAGE_REF=DIGEST_REF, check=False)
    assert proc.returncode == 1
    assert "no current kube context" in proc.stderr
    assert "+ kubectl" not in proc.stdout, "nothing may run without a context"


def test_deploy_dry_run_prints_and_runs_nothing(fake_kubectl) -> None:
    fake, log = fake_kubectl
    out = deploy_script(ENV="production", IMAGE_REF=DIGEST_REF, DRY_RUN="1", KUBECTL=str(fake)).stdout
    assert "+ kubectl apply -k deploy/k8s/overlays/production" in out
    assert not log.exists()


@pytest.mark.parametrize("env, message", [
    ({"ENV": "prod"}, "unknown ENV"),
    ({"ENV": "staging", "APPLY": "0"}, "nothing to do"),
    ({"ENV": "staging", "IMAGE_REF": "not an image"}, "not an image reference"),
    ({"ENV": "staging", "IMAGE_REF": DIGEST_REF, "ROLLOUT_TIMEOUT": "soon"}, "ROLLOUT_TIMEOUT"),
])
def test_deploy_rejects_bad_input(env: dict, message: str, fake_kubectl) -> None:
    fake, log = fake_kubectl
    proc = deploy_script(check=False, KUBECTL=str(fake), DRY_RUN="0", **env)
    assert proc.returncode == 1 and message in proc.stderr
    assert not log.exists()


def test_make_deploy_and_render_wiring() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "APPLY", "IMAGE_REF", "DRY_RUN", "MAKEFLAGS", "MAKELEVEL")}
    proc = run(["make", "--no-print-directory", "deploy", "ENV=production", f"IMAGE_REF={DIGEST_REF}",
                "APPLY=0", "DRY_RUN=1"], env=env)
    assert f"+ kubectl --namespace production set image deployment/epoch-app epoch={DIGEST_REF}" in proc.stdout
    rendered = run(["make", "--no-print-directory", "render", "ENV=canary"], env=env).stdout
    assert rendered == rendered_text("canary")


# ------------------------------------------------------------------------------------------------
# scripts/kubeconfig
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca_b64(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("ca")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-cluster-ca", "-days", "1",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt")])
    return base64.b64encode((d / "ca.crt").read_bytes()).decode()


def kubeconfig_script(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    full.update(env)
    return run([str(REPO_ROOT / "scripts" / "kubeconfig")], env=full, cwd=cwd, check=False)


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
# CI's path end to end: scripts/kubeconfig -> make deploy APPLY=0 -> an API server enforcing the Role
# ------------------------------------------------------------------------------------------------
def kubectls() -> list[str]:
    """The kubectl make picks and the pinned one in .venv, when they differ: both must work."""
    found = [kubectl()]
    venv = str(REPO_ROOT / ".venv" / "bin" / "kubectl")
    if Path(venv).exists() and Path(venv).resolve() != Path(found[0]).resolve():
        found.append(venv)
    return found


@pytest.mark.parametrize("kubectl_path", kubectls())
@pytest.mark.parametrize("env", ["staging", "production"])
def test_deployer_rolls_out_with_its_kubeconfig_and_nothing_more(env: str, kubectl_path: str, tmp_path: Path) -> None:
    namespace, name, _ = EXPECTED[env]
    docs = render(env)
    role, dep = one(docs, "Role", "deployer"), one(docs, "Deployment", name)
    token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(24)
    (tmp_path / "tls").mkdir()
    with FakeAPIServer(tmp_path / "tls", token, role, dep) as api:
        cfg = tmp_path / "kube" / "config"
        made = kubeconfig_script(tmp_path, KUBE_SERVER=api.url, KUBE_TOKEN=token, KUBE_NAMESPACE=namespace,
                                 KUBE_CA=base64.b64encode(api.ca_file.read_bytes()).decode(), KUBECONFIG_OUT=str(cfg))
        assert made.returncode == 0, made.stderr
        proc = deploy_script(check=False, ENV=env, IMAGE_REF=DIGEST_REF, APPLY="0", KUBECTL=kubectl_path,
                             KUBECONFIG=str(cfg), ROLLOUT_TIMEOUT="60s")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\nrequests: {api.requests[:6]} {api.queries[:6]}"
    assert "successfully rolled out" in proc.stdout
    assert token not in proc.stdout + proc.stderr
    [image] = [c["image"] for c in api.deployment["spec"]["template"]["spec"]["containers"]]
    assert image == DIGEST_REF
    denied = [r for r in api.requests if not r[3]]
    assert not denied, f"kubectl asked for more than the Role grants: {denied}"
    used = {verb for verb, resource, rname, _ in api.requests if resource == "apps/deployments" and rname == name}
    # get + patch (set image), watch (rollout status) always; list too where the client does not
    # stream its initial list through the watch (kubectl 1.32 lists; 1.37 sends sendInitialEvents).
    assert {"get", "patch", "watch"} <= used <= set(role["rules"][0]["verbs"])


def test_fake_api_server_enforces_the_role(tmp_path: Path) -> None:
    """Control: without `watch`, rollout status is refused, and deploy says how to roll back."""
    docs = render("staging")
    role, dep = one(docs, "Role", "deployer"), one(docs, "Deployment", "epoch-test")
    role["rules"][0]["verbs"] = ["get", "list", "patch"]
    token = secrets.token_urlsafe(32)
    (tmp_path / "tls").mkdir()
    with FakeAPIServer(tmp_path / "tls", token, role, dep) as api:
        cfg = tmp_path / "config"
        assert kubeconfig_script(tmp_path, KUBE_SERVER=api.url, KUBE_TOKEN=token, KUBE_NAMESPACE="staging",
                                 KUBE_CA=base64.b64encode(api.ca_file.read_bytes()).decode(),
                                 KUBECONFIG_OUT=str(cfg)).returncode == 0
        proc = deploy_script(check=False, ENV="staging", IMAGE_REF=DIGEST_REF, APPLY="0",
                             KUBECONFIG=str(cfg), ROLLOUT_TIMEOUT="5s")
    assert proc.returncode == 1
    assert ("watch", "apps/deployments", "epoch-test", False) in api.requests
    assert "kubectl -n staging rollout undo deployment/epoch-test" in proc.stderr


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
        status, body = wait_for_http(f"http://127.0.0.1:{port}/", timeout=60)
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
