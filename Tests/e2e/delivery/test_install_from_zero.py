"""The first install as docs/continuous-delivery.md documents it, run as written: the shell block
after the `install-from-zero` marker, against the fake API server (fakes/api_server.py) with a
cluster admin's token and the real kubectl. It must finish (namespace, Secrets, every object, the
rollouts) on a cluster with the Gateway API and Prometheus Operator CRDs and on one without them;
the old order (apply first, Secrets after) must fail, and so must one apply of every object on a
cluster without the CRDs (what the overlays did before their CRD kinds moved to their own parts).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from harness.deploy import write_kubeconfig
from fakes.api_server import CRD_GROUPS, FakeAPIServer
from harness.kubernetes import IMAGE, TARGET, kubectl
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.install_from_zero  # make install-from-zero-test

DOCS = REPO_ROOT / "docs" / "continuous-delivery.md"
MARKER = "<!-- install-from-zero: Tests/e2e/delivery/test_install_from_zero.py runs the next block -->"
DIGEST = "sha256:" + "ab" * 32


def documented_steps() -> list[str]:
    """The commands of the documented block, in order (comments dropped)."""
    text = DOCS.read_text()
    assert MARKER in text, "docs/continuous-delivery.md has no install-from-zero block"
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [c for c in "\n".join(commands).replace("\\\n", " ").splitlines()]  # one entry per command


class Install:
    def __init__(self, tmp: Path, crds: set[str]):
        self.tmp, self.token = tmp, secrets.token_urlsafe(32)
        self.api = FakeAPIServer(tmp / "tls", {self.token: None}, crds=crds)
        (tmp / "pull-auth.json").write_text('{"auths": {}}')
        (tmp / "roughtime.key").write_bytes(os.urandom(32))
        self.bin = tmp / "bin"
        self.bin.mkdir()
        (self.bin / "kubectl").symlink_to(kubectl())

    def __enter__(self):
        self.api.__enter__()
        self.config = write_kubeconfig(self.tmp, self.api, self.token, "default")
        return self

    def __exit__(self, *exc):
        self.api.__exit__(*exc)

    def run(self, steps: list[str]) -> subprocess.CompletedProcess:
        script = "\n".join(steps).replace("./pull-auth.json", str(self.tmp / "pull-auth.json")) \
            .replace("./roughtime.key", str(self.tmp / "roughtime.key")).replace("sha256:<digest>", DIGEST)
        env = {k: v for k, v in os.environ.items() if k not in ("ENV", "APPLY", "IMAGE_REF", "DRY_RUN", "MAKEFLAGS", "MAKELEVEL", "KUBECTL")}
        env.update(PATH=f"{self.bin}{os.pathsep}{env['PATH']}", KUBECONFIG=str(self.config), ROLLOUT_TIMEOUT="10s")
        return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)


def installed_kinds(api: FakeAPIServer) -> set[str]:
    return {kind for (kind, _, _) in api.store}


@pytest.mark.parametrize("crds", [set(CRD_GROUPS), set()], ids=["with-crds", "without-crds"])
def test_the_documented_first_install_finishes(tmp_path: Path, crds: set[str]) -> None:
    steps = documented_steps()
    with Install(tmp_path, crds) as install:
        proc = install.run(steps)
        api = install.api
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    namespace, deployment = TARGET["staging"]
    dep = api.get("Deployment", deployment, namespace)
    assert dep and dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{DIGEST}"
    assert api.get("DaemonSet", "epoch-watch", namespace)["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}@{DIGEST}"
    assert not api.missing_for_pods(dep), "the pods' Secrets exist"
    assert "deploy: done" in out and "successfully rolled out" in out
    assert {"ValidatingAdmissionPolicy", "Role", "NetworkPolicy", "Secret"} <= installed_kinds(api)
    crd_kinds = {"HTTPRoute", "PodMonitor", "ServiceMonitor", "PrometheusRule"}
    if crds:
        assert crd_kinds <= installed_kinds(api)
    else:
        assert not crd_kinds & installed_kinds(api)
        assert re.search(r"skipped deploy/k8s/overlays/staging/gateway: the cluster does not serve gateway.networking.k8s.io/v1", out)


def test_the_old_order_fails(tmp_path: Path) -> None:
    """Control: the first apply before the namespace's Secrets (the order the docs gave before)
    creates everything, but the pods cannot pull or mount their key: the rollout never finishes."""
    steps = documented_steps()
    apply = [s for s in steps if s.startswith("make deploy")]
    secrets_ = [s for s in steps if "create secret" in s]
    assert apply and len(secrets_) == 2
    old = [s for s in steps if s not in apply + secrets_ and "namespace.yaml" not in s] + apply + secrets_
    with Install(tmp_path, set(CRD_GROUPS)) as install:
        proc = install.run(old)
    assert proc.returncode != 0, proc.stdout
    assert "did not finish" in proc.stderr and "deploy: done" not in proc.stdout


def test_one_apply_of_every_kind_fails_without_the_crds(tmp_path: Path) -> None:
    """Control: the core and the CRD parts applied as one file, as the overlays were before, on a
    cluster without the CRDs: kubectl applies the objects before the first unknown kind, then fails."""
    from harness.kubernetes import rendered_text
    every = tmp_path / "every.yaml"
    every.write_text(rendered_text("staging"))
    with Install(tmp_path, set()) as install:
        # --validate=false: the fake serves no /openapi/v2, which kubectl's validation of a kind the
        # cluster lacks would read first (a real server's answer lets it go on to the apply).
        proc = install.run(["kubectl apply -f deploy/k8s/overlays/staging/namespace.yaml",
                            f"kubectl apply --validate=false -f {every}"])
        partial = installed_kinds(install.api)
    unknown = r'no matches for kind "(HTTPRoute|PodMonitor|ServiceMonitor|PrometheusRule)"' \
              r"|could not find the requested resource \(/apis/(gateway.networking.k8s.io|monitoring.coreos.com)/"
    assert proc.returncode != 0 and re.search(unknown, proc.stderr), proc.stderr
    assert "Deployment" in partial, "a partial apply: what came before the unknown kind is there"
