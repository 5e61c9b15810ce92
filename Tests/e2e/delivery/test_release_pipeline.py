"""The release pipeline without an emulator: the workflows only call scripts (release.yml,
ci.yml, .travis.yml), and the scripts run here as a runner would run them: scripts/release-plan,
release-sign, release-deploy, travis-release and build-dockerfile, with the one fake kubectl
(fakes/kubectl) and recording cosign, gh and docker first on PATH. Asserts where each branch of the
table of environments rolls out, that it rolls out the pushed digest (Deployment and watch DaemonSet)
after its signature was checked, that a failed rollout fails with rollback advice, and that the
deployer token shows up in no output and no recorded argument. The YAML's own checks are structural
(every `run:` calls one script or make target) plus actionlint, the JSON schemas and zizmor (make lint).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.certificates import make_ca_pem
from harness.kubernetes import ENVIRONMENTS_FILE, IMAGE, TABLE, kubectl
from harness.paths import REPO_ROOT as REPO

pytestmark = pytest.mark.release_pipeline  # make release-pipeline-test

RELEASE = REPO / ".github" / "workflows" / "release.yml"
CI = REPO / ".github" / "workflows" / "ci.yml"
TRAVIS = REPO / ".travis.yml"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
FAKE_KUBECTL = REPO / "Tests" / "e2e" / "fakes" / "kubectl"
# branch -> (GitHub environment, namespace, Deployment), from the table
EXPECTED = {e["branch"]: (e["name"], e["namespace"], e["deployment"]) for e in TABLE["environments"] if e.get("branch")}
# The branches CI rolls out itself; the others' environments have a release file, which Flux applies.
PUSHED = sorted(e["branch"] for e in TABLE["environments"] if e.get("branch") and not e.get("release"))
GITOPS = sorted(e["branch"] for e in TABLE["environments"] if e.get("branch") and e.get("release"))


def load_workflow(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc and "on" not in doc:  # YAML 1.1 reads the key `on` as the boolean True
        doc["on"] = doc.pop(True)
    return doc


def fake_tool(bindir: Path, name: str, body: str) -> None:
    """A recording stand-in: appends its arguments to $FAKE_<NAME>_LOG, then runs `body` (bash)."""
    path = bindir / name
    path.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$FAKE_{name.upper()}_LOG"\n{body}\n')
    path.chmod(0o755)


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    calls: list
    cosign: list
    tokens: dict
    runner_temp: Path

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr


class Runner:
    """A fresh runner: this machine's PATH behind fakes, GitHub's variables, a cluster per environment."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        (self.bin / "kubectl").symlink_to(FAKE_KUBECTL)
        fake_tool(self.bin, "cosign", 'if [[ $1 == verify && ${FAKE_COSIGN_RC:-0} != 0 ]]; then '
                                      'echo "Error: no matching signatures (fake)" >&2; exit 1; fi')
        fake_tool(self.bin, "gh", 'echo "${FAKE_GH_HEAD:-}"')
        fake_tool(self.bin, "docker", '[[ $1 == buildx && ${FAKE_NO_BUILDX:-0} == 1 ]] && exit 1; exit 0')
        self.runner_temp = tmp / "runner-temp"
        self.runner_temp.mkdir()
        self.ca = __import__("base64").b64encode(make_ca_pem()).decode()
        # Distinct tokens shaped like service-account JWTs, so a mix-up between environments shows.
        self.tokens = {env: f"eyJ{secrets.token_hex(12)}.{env}-{secrets.token_hex(16)}.{secrets.token_hex(24)}"
                       for env, _, _ in EXPECTED.values()}
        self.digest = "sha256:" + secrets.token_hex(32)
        self.sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()

    def env(self, ref_type: str, ref_name: str, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
        ref = f"refs/heads/{ref_name}" if ref_type == "branch" else f"refs/tags/{ref_name}"
        env = dict(keep, PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}", CI="true", GITHUB_ACTIONS="true",
                   GITHUB_REF=ref, GITHUB_REF_TYPE=ref_type, GITHUB_REF_NAME=ref_name, GITHUB_SHA=self.sha,
                   GITHUB_REPOSITORY="example/swift-microepoch",
                   GITHUB_WORKFLOW_REF=f"example/swift-microepoch/.github/workflows/release.yml@{ref}",
                   RUNNER_TEMP=str(self.runner_temp), REAL_KUBECTL=kubectl(),
                   FAKE_KUBECTL_LOG=str(self.tmp / "kubectl.jsonl"), FAKE_COSIGN_LOG=str(self.tmp / "cosign.log"),
                   FAKE_GH_LOG=str(self.tmp / "gh.log"), FAKE_DOCKER_LOG=str(self.tmp / "docker.log"),
                   GITHUB_OUTPUT=str(self.tmp / "github-output"), GITHUB_STEP_SUMMARY=str(self.tmp / "summary.md"))
        environment = EXPECTED.get(ref_name, ("", "", ""))[0] if ref_type == "branch" else ""
        if environment:  # a job bound to an environment sees its variables and secrets
            env.update(KUBE_SERVER=f"https://{environment}.k8s.example.test:6443", KUBE_CA=self.ca,
                       KUBE_TOKEN=self.tokens[environment])
        env.update(extra)
        return env

    def script(self, name: str, env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO / "scripts" / name)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    def deploy(self, branch: str, ref_type: str = "branch", drop: str = "", **extra: str) -> Run:
        env = self.env(ref_type, branch, DIGEST=self.digest, **extra)
        env.pop(drop, None)
        proc = self.script("release-deploy", env)
        log = self.tmp / "kubectl.jsonl"
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        cosign = self.tmp / "cosign.log"
        return Run(proc, calls, cosign.read_text().splitlines() if cosign.exists() else [], self.tokens, self.runner_temp)


def words(call: dict) -> tuple[str | None, list[str]]:
    """(namespace, the other arguments) of a recorded kubectl call."""
    args, namespace, rest, i = call["args"], None, [], 0
    while i < len(args):
        if args[i] in ("-n", "--namespace"):
            namespace = args[i + 1]
            i += 2
            continue
        rest.append(args[i])
        i += 1
    return namespace, rest


def check_deploy(run: Run, branch: str) -> None:
    """Everything a correct rollout of `branch` shows; raises AssertionError otherwise."""
    environment, namespace, deployment = EXPECTED[branch]
    image_ref = f"{IMAGE}@" + run.output.split(f"{IMAGE}@", 1)[1][:71] if f"{IMAGE}@" in run.output else ""
    assert run.proc.returncode == 0, run.output
    assert f"-> environment {environment} (namespace {namespace})" in run.output, run.output
    cluster = [(ns, rest, c) for c in run.calls for ns, rest in [words(c)] if rest[:1] not in (["kustomize"], ["version"])]
    applies = [(ns, rest, c) for ns, rest, c in cluster if rest[:1] == ["apply"]]
    assert len(applies) == 1, f"want one `kubectl apply`, got {[c['args'] for c in run.calls]}"
    ns, _, call = applies[0]
    assert ns == namespace, f"{branch}: apply in namespace {ns!r}, want {namespace!r}"
    assert call["applied_kinds"] == ["Deployment", "DaemonSet"], call["applied_kinds"]
    assert call["applied_images"] == [image_ref] * 2 and image_ref.endswith(run.output.split("@sha256:")[1][:64])
    rollouts = [rest for ns_, rest, _ in cluster if rest[:2] == ["rollout", "status"] and ns_ == namespace]
    assert [r[2] for r in rollouts] == ["daemonset/epoch-watch", f"deployment/{deployment}"], rollouts
    assert run.calls.index(call) < run.calls.index(next(c for _, r, c in cluster if r[:2] == ["rollout", "status"]))
    verify = [line.split() for line in run.cosign if line.startswith("verify ")]
    assert verify and verify[0][1] == image_ref, f"no cosign verify of the digest: {run.cosign}"
    identity = verify[0][verify[0].index("--certificate-identity") + 1]
    assert identity == f"https://github.com/example/swift-microepoch/.github/workflows/release.yml@refs/heads/{branch}"
    want = hashlib.sha256(run.tokens[environment].encode()).hexdigest()
    others = {hashlib.sha256(t.encode()).hexdigest() for e, t in run.tokens.items() if e != environment}
    for ns_, rest, c in cluster:
        assert ns_ in (None, namespace), f"{branch}: a kubectl call touched namespace {ns_}: {c['args']}"
        if rest[:2] == ["config", "current-context"] or rest[:1] == ["get"] or rest[:1] in (["apply"], ["rollout"]):
            assert not Path(c["kubeconfig"]).resolve().is_relative_to(REPO), "kubeconfig inside the checkout"
            assert c.get("kubeconfig_mode") == "0o600", c.get("kubeconfig_mode")
            assert want in c.get("token_sha256", []) and not others & set(c["token_sha256"]), "another environment's token"
            assert namespace in c.get("namespaces", []), c.get("namespaces")
    check_no_token_leak(run)
    assert not list(run.runner_temp.iterdir()), "the kubeconfig was left behind"


def check_no_token_leak(run: Run) -> None:
    text = run.output + json.dumps(run.calls)
    for environment, token in run.tokens.items():
        assert token not in text, f"the {environment} deployer token appears in the output or kubectl arguments"
        for part in token.split("."):
            if len(part) >= 16:
                assert part not in text, f"part of the {environment} deployer token appears in the output"


@pytest.fixture()
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


# --------------------------------------------------------------------------------------------
# scripts/release-plan: the table decides
# --------------------------------------------------------------------------------------------
def test_release_plan_follows_the_table(runner: Runner) -> None:
    for branch, (environment, namespace, deployment) in EXPECTED.items():
        out = runner.script("release-plan", runner.env("branch", branch))
        assert out.returncode == 0, out.stderr
        written = dict(line.split("=", 1) for line in (runner.tmp / "github-output").read_text().splitlines())
        assert written["environment"] == environment and written["namespace"] == namespace
        assert written["deployment"] == deployment and written["image"] == IMAGE
        assert written["registry"] == IMAGE.split("/")[0] and re.fullmatch(r"[0-9a-f]{7,}", written["rev"])
        row = next(e for e in TABLE["environments"] if e["name"] == environment)
        assert written["release"] == row.get("release", ""), "the release file comes from the table"
        (runner.tmp / "github-output").unlink()
    for ref_type, ref_name in (("tag", "v1.2.3"), ("branch", "feature-x"), ("tag", "main")):
        out = runner.script("release-plan", runner.env(ref_type, ref_name))
        assert "environment=\n" in out.stdout, f"{ref_type} {ref_name} would deploy: {out.stdout}"
    bad = runner.script("release-plan", {k: v for k, v in runner.env("branch", "main").items() if not k.startswith("GITHUB_REF")})
    assert bad.returncode == 1 and "no ref" in bad.stderr


def test_release_triggers_are_the_tables_branches() -> None:
    release = load_workflow(RELEASE)
    assert sorted(release["on"]["push"]["branches"]) == sorted(EXPECTED), "release.yml's branches are the table's"
    assert release["on"]["push"]["tags"] == ["v*"]


def tracked_texts() -> dict[str, str]:
    """Every file git tracks (what `grep -r` over a checkout finds), by path."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    return {f: (REPO / f).read_text(errors="replace") for f in tracked if (REPO / f).is_file()}


def check_registry_in_the_table_only(texts: dict[str, str]) -> None:
    host = IMAGE.split("/")[0]
    holders = sorted(f for f, text in texts.items() if host in text)
    assert holders == [str(ENVIRONMENTS_FILE.relative_to(REPO))], f"the registry host is written in {holders}"


def test_registry_and_table_are_written_in_one_file_each() -> None:
    """grep finds the registry host in the table only (the release files hold a digest, the image's
    name comes from the table), and no other file maps branches to namespaces."""
    texts = tracked_texts()
    check_registry_in_the_table_only(texts)
    # The control: a release file that names the image in full, as kustomize's `images:` needs it
    # (the form deploy/k8s/releases/production had before), is a second file with the host.
    release = "deploy/k8s/releases/production/kustomization.yaml"
    named = dict(texts, **{release: texts[release] + f"images:\n  - name: {IMAGE}\n    digest: sha256:{'0' * 64}\n"})
    with pytest.raises(AssertionError, match="registry host is written in"):
        check_registry_in_the_table_only(named)
    for path in (RELEASE, TRAVIS, REPO / "scripts" / "deploy"):
        text = path.read_text()
        assert not re.search(r"staging\)\s+\w+=|branch = staging|namespace=production", text), f"{path.name} maps branches itself"


# --------------------------------------------------------------------------------------------
# scripts/release-deploy, per branch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("branch", PUSHED)
def test_branch_deploys_the_pushed_digest_to_its_environment(runner: Runner, branch: str) -> None:
    run = runner.deploy(branch)
    check_deploy(run, branch)


def without_release_files(tmp_path: Path) -> Path:
    """A copy of the table in which no environment has a release file: CI rolls every one out."""
    table = yaml.safe_load(ENVIRONMENTS_FILE.read_text())
    for row in table["spec"]["environments"]:
        row.pop("release", None)
    path = tmp_path / "environments-push.yaml"
    path.write_text(yaml.safe_dump(table))
    return path


@pytest.mark.parametrize("branch", GITOPS)
def test_a_gitops_environment_is_left_to_its_release_file(runner: Runner, branch: str, tmp_path: Path) -> None:
    """production has a release file: release-deploy touches no cluster and says where the digest goes.
    The control, the same table without the release file, rolls production out from CI as before."""
    assert GITOPS, "the table names no GitOps environment"
    run = runner.deploy(branch)
    assert run.proc.returncode == 0 and "delivered from its release file" in run.output, run.output
    assert f"scripts/release-file {EXPECTED[branch][0]} {runner.digest}" in run.output
    assert not run.calls and not run.cosign, "nothing may touch a GitOps cluster from CI"
    check_deploy(runner.deploy(branch, ENVIRONMENTS_TABLE=str(without_release_files(tmp_path))), branch)


def test_a_wrong_mapping_fails_the_check(runner: Runner, tmp_path: Path) -> None:
    """The checks above can fail: swap staging's and production's namespaces in a copy of the table."""
    table = yaml.safe_load(ENVIRONMENTS_FILE.read_text())
    rows = {e["name"]: e for e in table["spec"]["environments"]}
    rows["staging"]["namespace"], rows["production"]["namespace"] = "production", "staging"
    swapped = tmp_path / "environments.yaml"
    swapped.write_text(yaml.safe_dump(table))
    run = runner.deploy("staging", ENVIRONMENTS_TABLE=str(swapped))
    with pytest.raises(AssertionError):
        check_deploy(run, "staging")


def test_tags_and_other_refs_deploy_nothing(runner: Runner) -> None:
    for ref_type, ref_name in (("tag", "v1.2.3"), ("branch", "feature-x")):
        run = runner.deploy(ref_name, ref_type=ref_type)
        assert run.proc.returncode == 0 and "deploys nothing" in run.output, run.output
        assert not run.calls and not run.cosign
    release = load_workflow(RELEASE)
    assert "if" not in release["jobs"]["image"], "tags must still build, push and sign"
    assert release["jobs"]["deploy"]["if"] == "needs.plan.outputs.environment != '' && needs.plan.outputs.release == ''"
    for job in ("release-file", "manifests"):
        assert release["jobs"][job]["if"] == "needs.plan.outputs.release != ''", job


def test_failed_rollout_fails_with_rollback_advice(runner: Runner) -> None:
    previous = f"{IMAGE}@sha256:" + "cd" * 32
    run = runner.deploy("staging", FAKE_ROLLOUT_RC="1", FAKE_RUNNING=previous)
    assert run.proc.returncode != 0, "a rollout that did not complete must fail the job"
    assert f"make deploy ENV=staging APPLY=0 IMAGE_REF={previous}" in run.output, run.output
    assert "deploy: done" not in run.output
    assert not any(words(c)[1][:2] == ["rollout", "undo"] for c in run.calls)
    assert not list(run.runner_temp.iterdir()), "the kubeconfig must be removed even after a failure"
    check_no_token_leak(run)


def test_unsigned_digest_is_not_rolled_out(runner: Runner) -> None:
    run = runner.deploy(PUSHED[0], FAKE_COSIGN_RC="1")
    assert run.proc.returncode != 0 and "no signature" in run.output
    assert not run.calls, "nothing may touch the cluster before the signature is checked"


@pytest.mark.parametrize("drop", ["KUBE_TOKEN", "DIGEST", "GITHUB_WORKFLOW_REF"])
def test_missing_input_fails_before_kubectl(runner: Runner, drop: str) -> None:
    run = runner.deploy(PUSHED[0], drop=drop)
    assert run.proc.returncode != 0, run.output
    assert not any(words(c)[1][:1] == ["apply"] for c in run.calls)


def test_a_superseded_run_leaves_the_deploy_to_the_newer_one(runner: Runner) -> None:
    """Deploy jobs of two runs of one branch may start in either order: the older one steps aside."""
    run = runner.deploy(PUSHED[0], GH_TOKEN="fake", FAKE_GH_HEAD="f" * 40)
    assert run.proc.returncode == 0 and "the newer run deploys" in run.output
    assert not run.calls
    # Control: the branch still points at this run's commit, so it deploys.
    check_deploy(runner.deploy(PUSHED[0], GH_TOKEN="fake", FAKE_GH_HEAD=runner.sha), PUSHED[0])


# --------------------------------------------------------------------------------------------
# scripts/release-sign, scripts/build-dockerfile, scripts/travis-release
# --------------------------------------------------------------------------------------------
def test_release_sign_signs_and_verifies_the_digest(runner: Runner) -> None:
    env = runner.env("branch", "main", IMAGE=IMAGE, DIGEST=runner.digest, TAGS=f"{IMAGE}:main\n{IMAGE}:abc1234")
    out = runner.script("release-sign", env)
    assert out.returncode == 0, out.stderr
    ref = f"{IMAGE}@{runner.digest}"
    log = (runner.tmp / "cosign.log").read_text().splitlines()
    assert log[0] == f"sign --yes {ref}" and log[1].startswith(f"verify {ref} --certificate-identity https://github.com/")
    summary = (runner.tmp / "summary.md").read_text()
    assert ref in summary and f"`{IMAGE}:abc1234`" in summary
    bad = runner.script("release-sign", dict(env, DIGEST="sha256:short"))
    assert bad.returncode == 1 and "DIGEST" in bad.stderr


def test_pull_requests_build_the_multi_stage_dockerfile(runner: Runner) -> None:
    out = runner.script("build-dockerfile", runner.env("branch", "feature-x", REQUIRE_BUILDX="1"))
    assert out.returncode == 0, out.stderr
    build = [line for line in (runner.tmp / "docker.log").read_text().splitlines() if line.startswith("buildx build")]
    assert build and "--file Dockerfile" in build[0] and "--push" not in build[0] and "--output type=cacheonly" in build[0]
    # Where the runner has no buildx: an error in CI (REQUIRE_BUILDX=1), a notice elsewhere.
    assert runner.script("build-dockerfile", runner.env("branch", "x", REQUIRE_BUILDX="1", FAKE_NO_BUILDX="1")).returncode == 1
    skipped = runner.script("build-dockerfile", runner.env("branch", "x", FAKE_NO_BUILDX="1"))
    assert skipped.returncode == 0 and "skipped" in skipped.stdout
    ci = load_workflow(CI)
    assert "pull_request" in ci["on"]
    [job] = [j for j in ci["jobs"].values() if any(s.get("run") == "scripts/build-dockerfile" for s in j["steps"])]
    uses = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert "docker/setup-buildx-action" in uses and job["steps"][-1]["env"]["REQUIRE_BUILDX"] == "1"
    assert "container" not in job, "buildx runs on the runner's docker"


def test_travis_release_deploys_nothing_from_other_branches(runner: Runner) -> None:
    out = runner.script("travis-release", runner.env("branch", "x", TRAVIS_BRANCH="feature-x"))
    assert out.returncode == 0 and "deploys nothing" in out.stdout, out.stdout + out.stderr
    assert not (runner.tmp / "kubectl.jsonl").exists()
    missing = runner.script("travis-release", runner.env("branch", "x", TRAVIS_BRANCH="staging"))
    assert missing.returncode == 1 and "REGISTRY_USERNAME is not set" in missing.stderr


# --------------------------------------------------------------------------------------------
# The workflows only wire scripts
# --------------------------------------------------------------------------------------------
# A `run:` is one call of a script of this repository or a make target, with settings, nothing else.
THIN_RUN = re.compile(r"^(?:[A-Z_]+=\S+ )*(?:scripts/[a-z-]+|make [a-z-]+(?: [A-Z_]+=\S+)*|bash \.ci/run)$")
BOOTSTRAP = "apt-get update -qq\n"  # ci.yml's container jobs install make and Python first


@pytest.mark.parametrize("path", [RELEASE, CI], ids=lambda p: p.name)
def test_workflow_steps_only_call_scripts(path: Path) -> None:
    for name, job in load_workflow(path)["jobs"].items():
        for step in job.get("steps") or []:
            run = step.get("run")
            if run is None:
                continue
            assert "${{" not in run, f"{path.name}/{name}: expression inside a run: script"
            if run.startswith(BOOTSTRAP) or run.startswith("git config --global --add safe.directory"):
                continue
            lines = [line for line in run.strip().splitlines() if line.strip()]
            assert all(THIN_RUN.match(line.strip()) or line.strip().startswith(("chmod +x .build/", "sudo --preserve-env"))
                       for line in lines), f"{path.name}/{name}: logic in YAML (move it to scripts/): {run!r}"


def test_release_jobs_wire_the_plan_and_the_digest() -> None:
    release = load_workflow(RELEASE)
    jobs = release["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml" and "ci" in jobs["image"]["needs"]
    assert jobs["deploy"]["environment"]["name"] == "${{ needs.plan.outputs.environment }}"
    assert set(jobs["image"]["outputs"]) == {"digest"}, "no image name in outputs: a secret in it blanks it"
    build = next(s for s in jobs["image"]["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["push"] is True and build["with"]["sbom"] is True
    assert "cache-from" not in build["with"], "no cache a pull request can write feeds the signed image"
    sign = next(s for s in jobs["image"]["steps"] if s.get("run") == "scripts/release-sign")
    assert sign["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    deploy = next(s for s in jobs["deploy"]["steps"] if s.get("run") == "scripts/release-deploy")
    assert deploy["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert deploy["env"]["KUBE_TOKEN"] == "${{ secrets.KUBE_TOKEN }}"
    for job in (jobs["image"], jobs["deploy"]):
        login = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/login-action@"))
        assert login["with"]["registry"] == "${{ steps.plan.outputs.registry }}", "the registry comes from the table"


def test_a_waiting_approval_holds_only_the_deploy_job() -> None:
    """A production run waiting for approval (up to 30 days) must not hold later pushes to main: no
    workflow-wide group; the deploy job alone is serialized per environment, never cancelled."""
    release = load_workflow(RELEASE)
    assert "concurrency" not in release, "a workflow-wide group holds every later run behind a pending approval"
    conc = release["jobs"]["deploy"]["concurrency"]
    assert conc == {"group": "deploy-${{ needs.plan.outputs.environment }}", "cancel-in-progress": False}
    assert all("concurrency" not in j for n, j in release["jobs"].items() if n != "deploy")


PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$")


@pytest.mark.parametrize("path", [RELEASE, CI], ids=lambda p: p.name)
def test_every_third_party_action_is_pinned_by_commit(path: Path) -> None:
    uses = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert uses
    for line in uses:
        if re.match(r"^\s*(-\s+)?uses:\s+\./", line):
            continue
        assert PINNED.match(line), f"{path.name}: not pinned to a full commit SHA with a # vX.Y.Z comment: {line.strip()}"


def _write_scopes(permissions) -> set[str]:
    if permissions == "write-all":
        return {"*"}
    return {k for k, v in permissions.items() if v == "write"} if isinstance(permissions, dict) else set()


def test_permissions_are_least_privilege() -> None:
    release = load_workflow(RELEASE)
    assert release.get("permissions") == {}
    for name, job in release["jobs"].items():
        assert "permissions" in job, f"job {name} must state its permissions"
        want = {"image": {"id-token"}, "manifests": {"id-token"}, "release-file": {"contents", "pull-requests"}}
        assert _write_scopes(job["permissions"]) == want.get(name, set()), name
    ci = load_workflow(CI)
    assert ci.get("permissions") == {"contents": "read"}
    assert not any(_write_scopes(job.get("permissions")) for job in ci["jobs"].values())


def test_ci_runs_make_lint_and_make_test() -> None:
    ci = load_workflow(CI)
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert "make lint" in runs and "make test-no-podman" in runs
    podman_job = next(j for j in ci["jobs"].values() if any("make test-podman" in s.get("run", "") for s in j["steps"]))
    assert "container" not in podman_job, "podman in a job container fails on cgroup v2 runners (podman#24737)"


def test_cosign_and_the_cluster_policy_move_to_bundles_together() -> None:
    """cosign 3 (cosign-installer v4) stores signatures as bundles through OCI referrers; the optional
    ClusterImagePolicy verifies them only with signatureFormat: bundle. Either Dependabot keeps the
    installer on v3, or the policy says bundle."""
    installers = re.findall(r"sigstore/cosign-installer@[0-9a-f]{40} # v(\d+)", RELEASE.read_text())
    assert installers
    policy = yaml.safe_load((REPO / "deploy" / "k8s" / "admission" / "optional" / "sigstore-cluster-image-policy.yaml").read_text())
    bundle = all(a.get("signatureFormat") == "bundle" for a in policy["spec"]["authorities"])
    if max(map(int, installers)) >= 4:
        assert bundle, "cosign 3 signs bundles: the ClusterImagePolicy needs signatureFormat: bundle"
    else:
        [update] = yaml.safe_load(DEPENDABOT.read_text())["updates"]
        ignored = {(i["dependency-name"], tuple(i.get("update-types", []))) for i in update.get("ignore", [])}
        assert ("sigstore/cosign-installer", ("version-update:semver-major",)) in ignored or bundle, \
            "Dependabot would move cosign to 3 without the ClusterImagePolicy following"


def test_dependabot_waits_before_proposing_a_release() -> None:
    [update] = yaml.safe_load(DEPENDABOT.read_text())["updates"]
    assert update.get("cooldown", {}).get("default-days", 0) >= 3, "zizmor dependabot-cooldown"


# --------------------------------------------------------------------------------------------
# Travis: the same scripts, the same table
# --------------------------------------------------------------------------------------------
def _travis_scripts(job: dict) -> list[str]:
    script = job.get("script", [])
    return script if isinstance(script, list) else [script]


def test_travis_derives_from_the_table_and_shares_the_hosts_cgroups() -> None:
    travis = yaml.safe_load(TRAVIS.read_text())
    jobs = travis["jobs"]["include"]
    assert any(".ci/run" in line for job in jobs for line in _travis_scripts(job))
    [deploy] = [job for job in jobs if any("travis-release" in line for line in _travis_scripts(job))]
    assert "if" not in deploy and travis["stages"][1]["if"] == "type = push", "the table, not Travis, picks the branches"
    text = TRAVIS.read_text().split("\nos:", 1)[1]
    for branch, (environment, namespace, deployment) in EXPECTED.items():
        assert f"ENV={environment}" not in text and deployment not in text and f"KUBE_NAMESPACE={namespace}" not in text
    prelude = "\n".join(travis["before_script"])
    # podman inside a privileged container on a cgroup v2 VM needs the host's cgroup namespace.
    assert "--privileged --cgroupns=host" in prelude
    assert not re.search(r"-e (REGISTRY_PASSWORD|KUBE_TOKEN)=", prelude), "secrets are passed by name only"
    assert "python3-yaml" in prelude, "scripts/environments reads the table with PyYAML"


def test_travis_scripts_parse_as_bash(tmp_path: Path) -> None:
    travis = yaml.safe_load(TRAVIS.read_text())
    prelude = "\n".join(travis["before_script"])
    commands = [line for job in travis["jobs"]["include"] for line in _travis_scripts(job)]
    script = tmp_path / "travis.sh"
    script.write_text(prelude + "\nin_swift() { bash -n -c \"$1\" || exit 1; }\n" + "\n".join(commands) + "\n")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr


def test_docs_say_what_travis_does_not_do() -> None:
    travis = TRAVIS.read_text().split("\nos:")[1]
    assert "cosign" not in travis and "sbom" not in travis.lower()
    section = (REPO / "docs" / "continuous-delivery.md").read_text().split("## Travis", 1)[1].split("\n## ", 1)[0]
    for fact in ("no SBOM", "no provenance", "no signature", "--cgroupns=host"):
        assert fact in section, f"docs/continuous-delivery.md's Travis section does not say {fact!r}"


# --------------------------------------------------------------------------------------------
# The linters `make lint` runs can fail
# --------------------------------------------------------------------------------------------
def test_make_lint_catches_a_broken_workflow(tmp_path: Path) -> None:
    venv_bin = REPO / ".venv" / "bin"
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: make deps installs it (tools/apt/lint.txt)"
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = load_workflow(RELEASE)
    bad["jobs"]["plan"]["steps"][1]["run"] += '\nrm -rf $RUNNER_TEMP/x\n'  # SC2086
    del bad["jobs"]["plan"]["timeout-minutes"]
    # A template injection: an attacker-controlled value expanded into a script.
    bad["jobs"]["plan"]["steps"].append({"name": "x", "run": 'echo "${{ github.event.head_commit.message }}"'})
    path = workflows / "release.yml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    lint = subprocess.run([str(venv_bin / "actionlint"), "-shellcheck", shellcheck, str(path)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert lint.returncode != 0 and "SC2086" in lint.stdout, lint.stdout + lint.stderr
    schema = subprocess.run([str(venv_bin / "check-jsonschema"), "--builtin-schema", "custom.github-workflows-require-timeout",
                             str(path)], capture_output=True, text=True)
    assert schema.returncode != 0 and "timeout-minutes" in schema.stdout, schema.stdout
    zizmor = [str(venv_bin / "zizmor"), "--offline", "--persona=pedantic", "--config", str(REPO / ".github" / "zizmor.yml")]
    found = subprocess.run(zizmor + [str(path)], capture_output=True, text=True)
    assert found.returncode != 0 and "template-injection" in found.stdout, found.stdout + found.stderr
    ok = subprocess.run(zizmor + [str(RELEASE), str(CI), str(DEPENDABOT)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_docs_say_the_runner_must_reach_the_api_server() -> None:
    """A private GKE or EKS endpoint refuses GitHub-hosted runners at the first kubectl call: the
    docs must say so and give the ways out (a self-hosted runner, or the pull-based path)."""
    docs = (REPO / "docs" / "continuous-delivery.md").read_text()
    assert "## The API server must be reachable from the runner" in docs
    section = docs.split("## The API server must be reachable from the runner", 1)[1].split("\n## ", 1)[0]
    for fact in ("private", "self-hosted runner", "pull-based", "Flux"):
        assert fact in section, f"the section does not say {fact!r}"
    release = load_workflow(RELEASE)
    assert release["jobs"]["deploy"]["runs-on"] == "ubuntu-24.04", "the docs describe a GitHub-hosted deploy job"
