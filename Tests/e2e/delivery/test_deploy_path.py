"""The one deploy path (scripts/deploy): the image pinned in a rendered copy of the overlay, one
`kubectl apply`, a rollout that is waited for, rollback by deploying the previous digest; the pods'
pull secret; the watch DaemonSet pinned to the same digest. Against the recording fake kubectl
(fakes/kubectl), and against the fake API server (fakes/api_server.py) that enforces the rendered
deployer Role and merges what `kubectl apply` sends (both kubectls of this machine).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
import yaml

from harness.commands import run
from harness.deploy import LAST_APPLIED, deploy_script, installed_cluster, write_kubeconfig
from harness.kubernetes import IMAGE, OVERLAYS, TARGET, core_text, kubectl, objects, one, render, rendered_text
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.k8s  # make k8s-test

REPOSITORY = IMAGE
FAKE_KUBECTL = REPO_ROOT / "Tests" / "e2e" / "fakes" / "kubectl"
NEW = f"{REPOSITORY}@sha256:" + "ab" * 32
OLD = f"{REPOSITORY}@sha256:" + "cd" * 32
OTHER = f"{REPOSITORY}@sha256:" + "ef" * 32
PULL_SECRET = "registry-pull"


def docs_of(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def image_of(workload: dict) -> str:
    """The image of the `epoch` container (Deployment) or the `epoch-watch` container (DaemonSet)."""
    [c] = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] in ("epoch", "epoch-watch")]
    return c["image"]


# ------------------------------------------------------------------------------------------------
# The pull secret
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_name_their_pull_secret(overlay: str) -> None:
    """The registry wants a login for pulls: the pods' ServiceAccount carries the pull secret."""
    docs = render(overlay)
    pod = one(docs, "Deployment", TARGET[overlay][1])["spec"]["template"]["spec"]
    sa = one(docs, "ServiceAccount", pod["serviceAccountName"])
    assert sa["imagePullSecrets"] == [{"name": PULL_SECRET}]
    assert "imagePullSecrets" not in pod, "one place: the ServiceAccount"
    # The Secret is made by hand (it holds a password); the manifests never carry one.
    assert not [s for s in objects(docs, "Secret") if s["type"] != "kubernetes.io/service-account-token"]
    readme = (REPO_ROOT / "deploy" / "k8s" / "README.md").read_text()
    assert f"create secret docker-registry {PULL_SECRET}" in readme
    assert "--from-file=.dockerconfigjson=" in readme and "--docker-password" not in readme


def test_pull_secret_check_can_fail() -> None:
    """Control: a ServiceAccount without imagePullSecrets fails the check above."""
    docs = render("staging")
    pod = one(docs, "Deployment", "epoch-test")["spec"]["template"]["spec"]
    sa = one(docs, "ServiceAccount", pod["serviceAccountName"])
    del sa["imagePullSecrets"]
    with pytest.raises(KeyError):
        assert sa["imagePullSecrets"] == [{"name": PULL_SECRET}]


# ------------------------------------------------------------------------------------------------
# Rendering: the digest goes into the overlay; the HPA owns the replicas
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_render_pins_the_digest_and_is_reproducible(overlay: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    for out in (first, second):
        deploy_script(ENV=overlay, IMAGE_REF=NEW, DRY_RUN="1", RENDER_OUT=str(out))
    assert first.read_text() == second.read_text(), "two renderings of one digest differ"
    docs = docs_of(first)
    dep = one(docs, "Deployment", TARGET[overlay][1])
    assert image_of(dep) == NEW
    # Nothing but the images (the Deployment's and the watch DaemonSet's) differs from the core as committed.
    plain = [d for d in yaml.safe_load_all(core_text(overlay)) if d]
    assert image_of(one(plain, "Deployment", TARGET[overlay][1])) != NEW
    assert docs == docs_of_rendering(overlay, NEW, core_only=True)
    if overlay == "canary":
        assert dep["spec"]["replicas"] == 2, "no HPA: the canary's own count"
    else:
        assert "replicas" not in dep["spec"], "the HPA owns the count"


def test_render_differs_for_another_digest(tmp_path: Path) -> None:
    """Control for the reproducibility check: another digest renders differently."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    deploy_script(ENV="staging", IMAGE_REF=NEW, DRY_RUN="1", RENDER_OUT=str(a))
    deploy_script(ENV="staging", IMAGE_REF=OTHER, DRY_RUN="1", RENDER_OUT=str(b))
    assert a.read_text() != b.read_text()


@pytest.mark.parametrize("overlay", ["staging", "production", "canary"])
def test_overlays_name_pushed_tags_only(overlay: str) -> None:
    """release.yml pushes the branch tags :staging and :main (and sha tags): never :production or :canary."""
    image = image_of(one(render(overlay), "Deployment", TARGET[overlay][1]))
    assert image.rsplit(":", 1)[1] in ("staging", "main"), image
    release = (REPO_ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "type=ref,event=branch" in release and "branches: [staging, main]" in release


# ------------------------------------------------------------------------------------------------
# scripts/deploy against a recording kubectl
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch):
    """fakes/kubectl, recording into tmp_path; it renders with the real kubectl."""
    log, applied = tmp_path / "calls.jsonl", tmp_path / "applied"
    applied.mkdir()
    for name, value in {"FAKE_KUBECTL_LOG": log, "FAKE_KUBECTL_APPLIED": applied, "FAKE_CONTEXT": "fake-context",
                        "REAL_KUBECTL": kubectl()}.items():
        monkeypatch.setenv(name, str(value))
    return FAKE_KUBECTL, log, applied


def calls_of(log: Path) -> list[str]:
    if not log.exists():
        return []
    calls = [" ".join(json.loads(line)["args"]) for line in log.read_text().splitlines()]
    return [c for c in calls if not c.startswith("kustomize ")]


@pytest.mark.parametrize("apply, kinds", [("1", None), ("0", ["Deployment", "DaemonSet"])])
def test_deploy_renders_applies_once_and_waits(fake_kubectl, apply: str, kinds) -> None:
    fake, log, applied = fake_kubectl
    out = deploy_script(ENV="production", IMAGE_REF=NEW, APPLY=apply, KUBECTL=str(fake), ROLLOUT_TIMEOUT="90s",
                        FAKE_RUNNING=OLD, FAKE_API_VERSIONS="v1 apps/v1").stdout
    calls = calls_of(log)
    ns = "--namespace production"
    assert calls[0] == "config current-context"
    assert calls[1].startswith(f"{ns} get deployment/epoch-app --ignore-not-found -o jsonpath=")
    assert calls[2].startswith("apply -f " if apply == "1" else f"{ns} apply -f ")
    if apply == "1":  # the CRD parts are skipped on a cluster without their APIs (FAKE_API_VERSIONS)
        assert calls[3] == "api-versions"
        calls = calls[:3] + calls[4:]
    assert calls[3:] == [f"{ns} rollout status daemonset/epoch-watch --timeout=90s",
                         f"{ns} rollout status deployment/epoch-app --timeout=90s"]
    [file] = list(applied.iterdir())
    docs = docs_of(file)
    if kinds is None:
        assert docs == docs_of_rendering("production", NEW, core_only=True), "APPLY=1 applies every object of the core"
    else:
        assert [d["kind"] for d in docs] == kinds and {image_of(d) for d in docs} == {NEW}, \
            "the Deployment and the watch DaemonSet run the same digest"
    echoed = [line[len("+ kubectl "):] for line in out.splitlines() if line.startswith("+ kubectl ")]
    assert [e for e in echoed if not e.startswith("kustomize ")] == calls[1:], "every command is printed first"
    assert out.rstrip().splitlines()[-1].startswith("deploy: done"), "done, after the rollout finished"


def docs_of_rendering(overlay: str, image: str, core_only: bool = False) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(core_text(overlay) if core_only else rendered_text(overlay)) if d]
    for workload in objects(docs, "Deployment") + objects(docs, "DaemonSet"):
        workload["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return docs


def test_deploy_without_image_ref_keeps_the_running_digest(fake_kubectl) -> None:
    """An apply of the manifests never puts the overlay's tag back over the digest that runs."""
    fake, log, applied = fake_kubectl
    deploy_script(ENV="staging", APPLY="1", KUBECTL=str(fake), FAKE_RUNNING=OLD)
    [file] = list(applied.iterdir())
    assert image_of(one(docs_of(file), "Deployment", "epoch-test")) == OLD
    # Control: on a first install (nothing runs) the overlay's own tag is applied.
    for f in applied.iterdir():
        f.unlink()
    proc = deploy_script(ENV="staging", APPLY="1", KUBECTL=str(fake), FAKE_RUNNING="")
    [file] = list(applied.iterdir())
    assert image_of(one(docs_of(file), "Deployment", "epoch-test")) == f"{REPOSITORY}:staging"
    assert "first install" in proc.stderr


def test_failed_rollout_advises_deploying_the_previous_digest(fake_kubectl) -> None:
    fake, log, _ = fake_kubectl
    proc = deploy_script(check=False, ENV="staging", IMAGE_REF=NEW, APPLY="0", KUBECTL=str(fake),
                         FAKE_RUNNING=OLD, FAKE_ROLLOUT_RC="1")
    assert proc.returncode == 1
    assert f"make deploy ENV=staging APPLY=0 IMAGE_REF={OLD}" in proc.stderr
    assert "rollout undo" not in proc.stderr + proc.stdout, "undo needs rights the deployer does not have"
    assert "deploy: done" not in proc.stdout


def test_dry_run_renders_and_touches_no_cluster(fake_kubectl, tmp_path: Path) -> None:
    fake, log, applied = fake_kubectl
    out = deploy_script(ENV="production", IMAGE_REF=NEW, DRY_RUN="1", KUBECTL=str(fake)).stdout
    assert calls_of(log) == [], "DRY_RUN runs kubectl only to render"
    assert "+ kubectl apply -f " in out and "+ kubectl --namespace production rollout status" in out
    assert "+ kubectl apply -f " in out.split("gateway")[0], "the dry run shows the CRD parts' applies too"
    assert "deploy: done" not in out and "nothing was applied" in out


def test_deploy_stops_without_a_kube_context() -> None:
    proc = deploy_script(check=False, ENV="staging", IMAGE_REF=NEW)  # the real kubectl, empty kubeconfig
    assert proc.returncode == 1 and "no current kube context" in proc.stderr
    assert "+ kubectl" not in proc.stdout, "nothing may run without a context"


@pytest.mark.parametrize("env, message", [
    ({"ENV": "prod"}, "is not in deploy/k8s/environments/environments.yaml"),
    ({"ENV": "staging", "APPLY": "2"}, "APPLY="),
    ({"ENV": "staging", "IMAGE_REF": "not an image"}, "not an image reference"),
    ({"ENV": "staging", "IMAGE_REF": NEW, "ROLLOUT_TIMEOUT": "soon"}, "ROLLOUT_TIMEOUT"),
])
def test_deploy_rejects_bad_input(env: dict, message: str, fake_kubectl) -> None:
    fake, log, _ = fake_kubectl
    proc = deploy_script(check=False, KUBECTL=str(fake), DRY_RUN="0", **env)
    assert proc.returncode == 1 and message in proc.stderr
    assert not calls_of(log)


def test_make_deploy_and_render_wiring() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENV", "APPLY", "IMAGE_REF", "DRY_RUN", "MAKEFLAGS", "MAKELEVEL")}
    proc = run(["make", "--no-print-directory", "deploy", "ENV=production", f"IMAGE_REF={NEW}",
                "APPLY=0", "DRY_RUN=1"], env=env)
    assert "+ kubectl --namespace production apply -f " in proc.stdout
    assert "+ kubectl --namespace production rollout status deployment/epoch-app --timeout=180s" in proc.stdout
    rendered = run(["make", "--no-print-directory", "render", "ENV=canary"], env=env).stdout
    assert [d for d in yaml.safe_load_all(rendered) if d] == render("canary"), "make render: the core and its parts"


# ------------------------------------------------------------------------------------------------
# CI's path against an API server that enforces the deployer Role and merges applied patches
# ------------------------------------------------------------------------------------------------
def kubectls() -> list[str]:
    """The kubectl make picks and the pinned one in .venv, when they differ: both must work."""
    found = [kubectl()]
    venv = str(REPO_ROOT / ".venv" / "bin" / "kubectl")
    if Path(venv).exists() and Path(venv).resolve() != Path(found[0]).resolve():
        found.append(venv)
    return found


class Cluster:
    """The fake API server holding `env`'s core as an administrator applied it with OLD (the
    Deployment scaled to 5 by the HPA); and the deployer's kubeconfig for it."""

    def __init__(self, tmp_path: Path, env: str, role_verbs: list[str] | None = None, admit=None):
        namespace, name = TARGET[env]
        docs = docs_of_rendering(env, OLD, core_only=True)
        self.role, self.rendered = one(docs, "Role", "deployer"), one(docs, "Deployment", name)
        if role_verbs is not None:
            for rule in self.role["rules"]:
                rule["verbs"] = role_verbs
        self.token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(24)
        self.api = installed_cluster(tmp_path / "tls", docs, {self.token: [self.role]}, admit=admit)
        self.tmp, self.env, self.namespace, self.name = tmp_path, env, namespace, name

    def __enter__(self):
        self.api.__enter__()
        self.config = write_kubeconfig(self.tmp, self.api, self.token, self.namespace)
        return self

    def __exit__(self, *exc):
        self.api.__exit__(*exc)

    def deploy(self, image: str, kubectl_path: str, timeout: str = "60s"):
        return deploy_script(check=False, ENV=self.env, IMAGE_REF=image, APPLY="0", KUBECTL=kubectl_path,
                             KUBECONFIG=str(self.config), ROLLOUT_TIMEOUT=timeout)

    def denied(self) -> list:
        return [r for r in self.api.requests if not r[3]]


@pytest.mark.parametrize("kubectl_path", kubectls())
@pytest.mark.parametrize("env", ["staging", "production"])
def test_second_apply_changes_nothing(env: str, kubectl_path: str, tmp_path: Path) -> None:
    with Cluster(tmp_path, env) as cluster:
        api = cluster.api
        first = cluster.deploy(NEW, kubectl_path)
        assert first.returncode == 0, f"{first.stdout}\n{first.stderr}\n{api.requests}"
        assert "successfully rolled out" in first.stdout and "deploy: done" in first.stdout
        deployment, watch = api.get("Deployment", cluster.name, cluster.namespace), api.get("DaemonSet", "epoch-watch", cluster.namespace)
        assert len(api.patches) == 2, "one patch of the Deployment, one of the watch DaemonSet"
        assert image_of(deployment) == NEW and image_of(watch) == NEW, "one release: the same digest on every node"
        assert "replicas" not in json.dumps(api.patches[0].get("spec", {})), "the apply must leave the HPA's count alone"
        assert deployment["spec"]["replicas"] == 5
        assert json.loads(deployment["metadata"]["annotations"][LAST_APPLIED])["spec"]["template"]["spec"][
            "containers"][0]["image"] == NEW

        second = cluster.deploy(NEW, kubectl_path)
        assert second.returncode == 0, second.stderr
        assert "unchanged" in second.stdout
        assert len(api.patches) == 2, f"the second apply sent a patch: {api.patches[2:]}"

        third = cluster.deploy(OTHER, kubectl_path)  # control: another digest is a change
        assert third.returncode == 0, third.stderr
        assert len(api.patches) == 4 and image_of(api.get("Deployment", cluster.name, cluster.namespace)) == OTHER
    assert not cluster.denied(), f"kubectl asked for more than the Role grants: {cluster.denied()}"
    for rule in cluster.role["rules"]:
        used = {verb for verb, resource, name, _ in api.requests if resource == f"apps/{rule['resources'][0]}"}
        assert {"get", "patch", "watch"} <= used <= set(rule["verbs"]), (rule, used)
    assert cluster.token not in first.stdout + first.stderr + second.stdout + third.stdout


@pytest.mark.parametrize("kubectl_path", kubectls())
def test_rollback_is_deploying_the_previous_digest(kubectl_path: str, tmp_path: Path) -> None:
    with Cluster(tmp_path, "staging") as cluster:
        api = cluster.api
        api.stuck = True  # the new pods never become ready
        failed = cluster.deploy(NEW, kubectl_path, timeout="5s")
        assert failed.returncode == 1
        advice = f"make deploy ENV=staging APPLY=0 IMAGE_REF={OLD}"
        assert advice in failed.stderr, failed.stderr
        assert image_of(api.get("Deployment", "epoch-test", "staging")) == NEW
        api.stuck = False
        back = cluster.deploy(OLD, kubectl_path)  # what the advice runs
        assert back.returncode == 0, back.stderr
        assert image_of(api.get("Deployment", "epoch-test", "staging")) == OLD
        assert not cluster.denied(), cluster.denied()
        # Control: `rollout undo` lists the ReplicaSets, which the Role does not allow.
        undo = run([kubectl_path, "--namespace", "staging", "rollout", "undo", "deployment/epoch-test"],
                   env={**os.environ, "KUBECONFIG": str(cluster.config)}, check=False)
    assert undo.returncode != 0
    assert [r for r in cluster.denied() if r[1] == "apps/replicasets"], cluster.api.requests[-4:]


def test_fake_api_server_enforces_the_role(tmp_path: Path) -> None:
    """Control: without `watch`, rollout status is refused, and deploy fails without saying done."""
    with Cluster(tmp_path, "staging", role_verbs=["get", "list", "patch"]) as cluster:
        proc = cluster.deploy(NEW, kubectl(), timeout="5s")
    assert proc.returncode == 1 and "deploy: done" not in proc.stdout
    assert ("watch", "apps/daemonsets", "epoch-watch", False) in cluster.api.requests
    assert f"IMAGE_REF={OLD}" in proc.stderr
