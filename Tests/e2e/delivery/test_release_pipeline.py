"""The release pipeline, end to end without a cluster: the real `run:` commands of release.yml's
`target`, `image` (naming) and `deploy` jobs run per branch, as a runner would run them, with a fake
`kubectl` first on PATH that records its arguments. Asserts where each branch rolls out, that it rolls
out the pushed digest, that a failed rollout fails the job with rollback advice, and that the deployer
token shows up in no output and no recorded argument. Also checks the workflows' policy (pinned actions,
least privilege, triggers, concurrency) and the Travis file's mapping.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import release_support as rs
from harness.kubernetes import kubectl
from harness.paths import REPO_ROOT as REPO

pytestmark = pytest.mark.release_pipeline  # make release-pipeline-test

RELEASE = REPO / ".github" / "workflows" / "release.yml"
CI = REPO / ".github" / "workflows" / "ci.yml"
TRAVIS = REPO / ".travis.yml"

REGISTRY = "registry.example.test:5000"
# branch -> (GitHub environment, namespace, deployment)
EXPECTED = {
    "staging": ("staging", "staging", "epoch-test"),
    "main": ("production", "production", "epoch-app"),
}
ENVIRONMENTS = ("staging", "production")


@dataclass
class Run:
    branch: str
    target: dict
    deploy_if: bool
    environment: str | None = None
    concurrency: dict | None = None
    image_ref: str = ""
    job: rs.JobResult | None = None
    calls: list | None = None
    kubectl_log_text: str = ""
    tokens: dict | None = None
    runner_temp: Path | None = None
    cosign_log: str = ""


def install_fake_cosign(bindir: Path) -> None:
    """A cosign that records its arguments in $FAKE_COSIGN_LOG and exits $FAKE_COSIGN_RC (0)."""
    path = bindir / "cosign"
    path.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$FAKE_COSIGN_LOG"\n'
                    'if [[ ${FAKE_COSIGN_RC:-0} != 0 ]]; then echo "Error: no matching signatures (fake)" >&2; fi\n'
                    'exit "${FAKE_COSIGN_RC:-0}"\n')
    path.chmod(0o755)


class Cluster:
    """Per-environment settings as GitHub would hold them: repository and environment scopes."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        ca = rs.make_ca_b64(workdir)
        self.repo_vars = {"REGISTRY": REGISTRY}
        self.repo_secrets = {"REGISTRY_USERNAME": "pusher", "REGISTRY_PASSWORD": "registry-" + secrets.token_hex(8)}
        self.env_vars = {
            name: {"KUBE_SERVER": f"https://{name}.k8s.example.test:6443", "KUBE_CA": ca} for name in ENVIRONMENTS
        }
        # Distinct tokens, shaped like service-account JWTs, so a mix-up between environments shows.
        self.env_secrets = {
            name: {"KUBE_TOKEN": f"eyJ{secrets.token_hex(12)}.{name}-{secrets.token_hex(16)}.{secrets.token_hex(24)}"}
            for name in ENVIRONMENTS
        }
        self.digest = "sha256:" + secrets.token_hex(32)

    def tokens(self) -> dict[str, str]:
        return {name: s["KUBE_TOKEN"] for name, s in self.env_secrets.items()}


def head_sha() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def github_context(ref_type: str, ref_name: str, runner_temp: Path) -> dict:
    ref = f"refs/heads/{ref_name}" if ref_type == "branch" else f"refs/tags/{ref_name}"
    return {
        "event_name": "push",
        "ref": ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "sha": head_sha(),
        "repository": "example/swift-microepoch",
        "workspace": str(REPO),
        "workflow_ref": f"example/swift-microepoch/.github/workflows/release.yml@{ref}",
    }


def runner_env(github: dict, runner_temp: Path, fakebin: Path, log: Path, rollout_rc: int) -> dict[str, str]:
    env = rs.clean_env([fakebin])
    env.update(
        RUNNER_TEMP=str(runner_temp),
        RUNNER_OS="Linux",
        GITHUB_WORKSPACE=str(REPO),
        GITHUB_REF=github["ref"],
        GITHUB_REF_NAME=github["ref_name"],
        GITHUB_REF_TYPE=github["ref_type"],
        GITHUB_SHA=github["sha"],
        GITHUB_REPOSITORY=github["repository"],
        GITHUB_WORKFLOW_REF=github["workflow_ref"],
        GITHUB_EVENT_NAME="push",
        FAKE_KUBECTL_LOG=str(log),
        FAKE_ROLLOUT_RC=str(rollout_rc),
        FAKE_COSIGN_LOG=str(log.with_name("cosign.log")),
        REAL_KUBECTL=kubectl(),
    )
    return env


def run_release(
    workflow: dict,
    cluster: Cluster,
    tmp: Path,
    ref_name: str,
    ref_type: str = "branch",
    rollout_rc: int = 0,
    drop_secret: bool = False,
    running: str = "",
    cosign_rc: int = 0,
) -> Run:
    jobs = workflow["jobs"]
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(parents=True, exist_ok=True)
    fakebin = tmp / "fakebin"
    rs.install_fake_kubectl(fakebin)
    install_fake_cosign(fakebin)
    log = tmp / "kubectl.jsonl"
    github = github_context(ref_type, ref_name, runner_temp)
    runner = {"temp": str(runner_temp), "os": "Linux"}
    base_env = runner_env(github, runner_temp, fakebin, log, rollout_rc)
    base_env["FAKE_RUNNING"] = running  # the image the fake cluster's Deployment runs
    base_env["FAKE_COSIGN_RC"] = str(cosign_rc)  # 1: cosign verify finds no signature
    repo_ctx = {"github": github, "vars": cluster.repo_vars, "secrets": cluster.repo_secrets, "needs": {}, "runner": runner}

    target = rs.run_job(jobs["target"], contexts=repo_ctx, base_env=base_env, cwd=REPO, scratch=tmp / "target")
    assert not target.failed, f"target job failed:\n{target.output_text()}"

    # The image job: its naming step runs for real; the build's digest is the fake registry's answer.
    image_job = jobs["image"]
    image = rs.run_job(
        image_job,
        contexts=repo_ctx,
        base_env=base_env,
        cwd=REPO,
        scratch=tmp / "image",
        only_steps={"ref"},
        fake_step_outputs={"build": {"digest": cluster.digest}},
    )
    assert not image.failed, f"image naming step failed:\n{image.output_text()}"

    needs = {
        "target": {"result": "success", "outputs": target.outputs},
        "image": {"result": "success", "outputs": image.outputs},
        "ci": {"result": "success", "outputs": {}},
    }
    deploy = jobs["deploy"]
    gate_ctx = dict(repo_ctx, needs=needs)
    run = Run(branch=ref_name, target=target.outputs, deploy_if=rs.condition(deploy.get("if"), gate_ctx, {}))
    run.tokens = cluster.tokens()
    run.runner_temp = runner_temp
    if not run.deploy_if:
        return run

    env_spec = deploy.get("environment")
    env_name = env_spec.get("name") if isinstance(env_spec, dict) else env_spec
    run.environment = rs.to_text(rs.interpolate(env_name, gate_ctx))
    conc = deploy.get("concurrency") or {}
    if isinstance(conc, str):
        conc = {"group": conc}
    run.concurrency = {
        "group": rs.to_text(rs.interpolate(conc.get("group"), gate_ctx)),
        "cancel-in-progress": rs.interpolate(conc.get("cancel-in-progress", False), gate_ctx),
    }
    # A job bound to an environment sees that environment's variables and secrets over the repository's.
    env_vars = dict(cluster.repo_vars, **cluster.env_vars.get(run.environment, {}))
    env_secrets = dict(cluster.repo_secrets, **cluster.env_secrets.get(run.environment, {}))
    if drop_secret:
        env_secrets.pop("KUBE_TOKEN", None)
    deploy_ctx = dict(gate_ctx, vars=env_vars, secrets=env_secrets)
    # The name comes from the variables, as the deploy job rebuilds it; only the digest is an output.
    repository = cluster.repo_vars.get("IMAGE_REPOSITORY") or "swift-microepoch"
    run.image_ref = f"{cluster.repo_vars['REGISTRY']}/{repository}@{image.outputs.get('digest')}"
    run.job = rs.run_job(
        deploy,
        contexts=deploy_ctx,
        base_env=base_env,
        cwd=REPO,
        scratch=tmp / "deploy",
        skip_uses=("actions/checkout", "docker/login-action", "sigstore/cosign-installer"),
    )
    run.calls = rs.read_kubectl_log(log)
    cosign_log = log.with_name("cosign.log")
    run.cosign_log = cosign_log.read_text() if cosign_log.exists() else ""
    run.kubectl_log_text = log.read_text() if log.exists() else ""
    return run


def check_deploy(run: Run) -> None:
    """Everything a correct rollout of run.branch shows; raises AssertionError otherwise."""
    environment, namespace, deployment = EXPECTED[run.branch]
    others = [v for k, v in EXPECTED.items() if k != run.branch]
    assert run.deploy_if, f"{run.branch}: the deploy job would not run (target outputs {run.target})"
    assert run.environment == environment, f"{run.branch}: GitHub environment {run.environment!r}, want {environment!r}"
    assert environment in run.concurrency["group"], f"concurrency group {run.concurrency} does not name {environment}"
    assert run.concurrency["cancel-in-progress"] in (False, "false"), "a newer deploy must not cancel a running rollout"
    assert run.image_ref.startswith(f"{REGISTRY}/") and run.image_ref.split("@")[0].endswith("/swift-microepoch")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", run.image_ref.split("@", 1)[1]), run.image_ref
    job = run.job
    assert not job.failed, f"{run.branch}: deploy job failed:\n{job.output_text()}"

    parsed = [(rs.split_namespace(c["args"]), c) for c in run.calls if c["args"][:1] != ["kustomize"]]
    applies = [(ns, rest, c) for (ns, rest), c in parsed if rest[:1] == ["apply"]]
    rollout = [(ns, rest, c) for (ns, rest), c in parsed if rest[:2] == ["rollout", "status"]]
    assert len(applies) == 1, f"want one `kubectl apply`, got {[c['args'] for c in run.calls]}"
    ns, rest, call = applies[0]
    assert ns == namespace, f"{run.branch}: apply in namespace {ns!r}, want {namespace!r}: {call['args']}"
    # The deployer applies the rendered Deployment only, with the pushed digest pinned.
    assert call["applied_kinds"] == ["Deployment"], f"{run.branch}: applied {call['applied_kinds']}"
    assert call["applied_images"] == [run.image_ref], f"{run.branch}: applied {call['applied_images']}"
    assert rollout, f"no `kubectl rollout status` after apply: {[c['args'] for c in run.calls]}"
    ns_r, rest_r, call_r = rollout[-1]
    assert ns_r == namespace and rest_r[2:3] == [f"deployment/{deployment}"], call_r["args"]
    assert any(a.startswith("--timeout") for a in call_r["args"]), f"rollout status without --timeout: {call_r['args']}"
    assert run.calls.index(call) < run.calls.index(call_r), "rollout status must follow the apply"
    verified = [line.split() for line in run.cosign_log.splitlines()]
    assert verified and verified[0][:2] == ["verify", run.image_ref], f"no cosign verify of the digest: {verified}"
    identity = verified[0][verified[0].index("--certificate-identity") + 1]
    assert identity == f"https://github.com/example/swift-microepoch/.github/workflows/release.yml@refs/heads/{run.branch}"
    for (ns_any, _), c in parsed:
        assert ns_any in (None, namespace), f"{run.branch}: a kubectl call touched namespace {ns_any}: {c['args']}"
        for _, other_ns, other_dep in others:
            assert not any(other_dep in a for a in c["args"]), f"{run.branch}: touched {other_dep}: {c['args']}"

    # Every kubectl call used the deployer kubeconfig of this environment: its token, mode 0600, outside the repo.
    want_hash = hashlib.sha256(run.tokens[environment].encode()).hexdigest()
    other_hashes = {hashlib.sha256(t.encode()).hexdigest() for e, t in run.tokens.items() if e != environment}
    for c in run.calls:
        if c["args"][:1] in (["version"], ["kustomize"]):  # local: no cluster, no kubeconfig
            continue
        assert c.get("kubeconfig"), f"kubectl ran without KUBECONFIG: {c['args']}"
        assert not Path(c["kubeconfig"]).resolve().is_relative_to(REPO), f"kubeconfig inside the checkout: {c['kubeconfig']}"
        assert c.get("kubeconfig_mode") == "0o600", f"kubeconfig mode {c.get('kubeconfig_mode')}"
        assert want_hash in c.get("token_sha256", []), f"{run.branch}: kubeconfig does not hold the {environment} token"
        assert not other_hashes & set(c.get("token_sha256", [])), f"{run.branch}: kubeconfig holds another environment's token"
        assert namespace in c.get("namespaces", []), f"kubeconfig namespace {c.get('namespaces')}, want {namespace}"
    check_no_token_leak(run)
    assert not (run.runner_temp / "kube").exists(), "the kubeconfig was left behind after the job"


def check_no_token_leak(run: Run) -> None:
    seen = [run.kubectl_log_text]
    for s in run.job.steps:
        seen += [s.stdout, s.stderr, json.dumps(s.env_written), json.dumps(s.outputs_written)]
    text = "\n".join(seen)
    for environment, token in run.tokens.items():
        assert token not in text, f"the {environment} deployer token appears in the job's output or kubectl arguments"
        # Nor a recognisable piece of it (e.g. a token cut by a log line).
        for part in token.split("."):
            if len(part) >= 16:
                assert part not in text, f"part of the {environment} deployer token appears in the output"


@pytest.fixture(scope="module")
def release() -> dict:
    return rs.load_workflow(RELEASE)


@pytest.fixture()
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


# --------------------------------------------------------------------------------------------
# Deploys, per branch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("branch", sorted(EXPECTED))
def test_branch_deploys_the_pushed_digest_to_its_environment(release, cluster, tmp_path, branch):
    run = run_release(release, cluster, tmp_path, branch)
    check_deploy(run)
    environment, namespace, deployment = EXPECTED[branch]
    print(f"{branch}: environment {environment}, kubectl calls:")
    for c in run.calls:
        print("   kubectl", " ".join(c["args"]))


def test_a_wrong_mapping_fails_the_check(release, cluster, tmp_path):
    """The checks above can fail: swap staging and production in the workflow's mapping."""
    mutated = copy.deepcopy(release)
    steps = mutated["jobs"]["target"]["steps"]
    swapped = 0
    for step in steps:
        script = step.get("run", "")
        new = script.replace("environment=staging", "environment=@@").replace("environment=production", "environment=staging")
        new = new.replace("environment=@@", "environment=production")
        new = new.replace("namespace=staging", "namespace=@@").replace("namespace=production", "namespace=staging")
        new = new.replace("namespace=@@", "namespace=production")
        if new != script:
            step["run"] = new
            swapped += 1
    assert swapped, "could not find the branch mapping in the target job to mutate (test out of date?)"
    run = run_release(mutated, cluster, tmp_path, "staging")
    with pytest.raises(AssertionError):
        check_deploy(run)
    # And it is the rollout that went to the wrong place, not just a name.
    _, rest = rs.split_namespace(next(c for c in run.calls if "get" in c["args"])["args"])
    assert "deployment/epoch-app" in rest


def test_tags_and_other_refs_deploy_nothing(release, cluster, tmp_path):
    for ref_type, ref_name in (("tag", "v1.2.3"), ("branch", "feature-x"), ("tag", "main")):
        run = run_release(release, cluster, tmp_path / f"{ref_type}-{ref_name}", ref_name, ref_type=ref_type)
        assert not run.deploy_if, f"{ref_type} {ref_name} would deploy to {run.target}"
    assert "if" not in release["jobs"]["image"], "tags must still build, push and sign"


def test_failed_rollout_fails_the_job_with_rollback_advice(release, cluster, tmp_path):
    previous = f"{REGISTRY}/swift-microepoch@sha256:" + "cd" * 32
    run = run_release(release, cluster, tmp_path, "staging", rollout_rc=1, running=previous)
    assert run.job.failed, "a rollout that did not complete must fail the deploy job"
    failed = [s for s in run.job.steps if s.ran and s.returncode != 0]
    assert failed, "no step failed"
    out = failed[0].stdout + failed[0].stderr
    # Rollback = deploy the previous digest (the deployer may not `rollout undo`: no replicasets).
    assert f"make deploy ENV=staging APPLY=0 IMAGE_REF={previous}" in out, out
    assert "deploy: done" not in out
    assert not any(rs.split_namespace(c["args"])[1][:2] == ["rollout", "undo"] for c in run.calls), (
        "the job advises a rollback; it does not roll back by itself"
    )
    assert not (run.runner_temp / "kube").exists(), "the kubeconfig must be removed even after a failure"
    check_no_token_leak(run)


def test_image_name_with_the_registry_username_still_deploys(release, cluster, tmp_path):
    """The runner blanks a job output holding a secret's value: the deploy job must not need one."""
    cluster.repo_vars["IMAGE_REPOSITORY"] = f"{cluster.repo_secrets['REGISTRY_USERNAME']}/swift-microepoch"
    check_deploy(run_release(release, cluster, tmp_path / "vars", "staging"))
    # Control: the image name passed as a job output, as release.yml did before, arrives empty.
    mutated = copy.deepcopy(release)
    mutated["jobs"]["image"]["outputs"]["image"] = "${{ steps.ref.outputs.image }}"
    mutated["jobs"]["deploy"]["env"]["IMAGE"] = "${{ needs.image.outputs.image }}"
    run = run_release(mutated, cluster, tmp_path / "output", "staging")
    assert run.job.failed and "no image to deploy" in run.job.output_text()


def test_unsigned_digest_is_not_rolled_out(release, cluster, tmp_path):
    run = run_release(release, cluster, tmp_path, "main", cosign_rc=1)
    assert run.job.failed
    assert run.cosign_log.startswith("verify ")
    assert not any(rs.split_namespace(c["args"])[1][:1] == ["apply"] for c in run.calls), run.calls


def test_a_production_run_waiting_for_approval_holds_nothing_of_stagings(release, cluster, tmp_path):
    """The run on main waits in its deploy job; its groups (workflow and job) are not staging's."""

    def groups_of(workflow: dict, where: Path) -> dict:
        groups = {}
        for branch in ("staging", "main"):
            run = run_release(workflow, cluster, where / branch, branch)
            github = github_context("branch", branch, where)
            workflow_group = rs.to_text(rs.interpolate(workflow["concurrency"]["group"], {"github": github}))
            groups[branch] = {workflow_group, run.concurrency["group"]}
        return groups

    groups = groups_of(release, tmp_path / "release")
    assert not groups["staging"] & groups["main"], groups
    # Control: one group for every ref would let a waiting production run hold staging up.
    shared = copy.deepcopy(release)
    shared["concurrency"]["group"] = "release"
    groups = groups_of(shared, tmp_path / "shared")
    assert groups["staging"] & groups["main"]


def test_missing_deployer_token_fails_before_kubectl(release, cluster, tmp_path):
    run = run_release(release, cluster, tmp_path, "main", drop_secret=True)
    assert run.job.failed, "a deploy without KUBE_TOKEN must fail"
    assert not any(rs.split_namespace(c["args"])[1][:1] == ["apply"] for c in run.calls), run.calls


# --------------------------------------------------------------------------------------------
# Workflow policy
# --------------------------------------------------------------------------------------------
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$")


@pytest.mark.parametrize("path", [RELEASE, CI], ids=lambda p: p.name)
def test_every_third_party_action_is_pinned_by_commit(path):
    uses = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert uses, f"{path.name} uses no action?"
    for line in uses:
        if re.match(r"^\s*(-\s+)?uses:\s+\./", line):
            continue  # a workflow or action of this repository
        assert PINNED.match(line), f"{path.name}: not pinned to a full commit SHA with a # vX.Y.Z comment: {line.strip()}"


def _write_scopes(permissions) -> set[str]:
    if permissions in ("write-all",):
        return {"*"}
    if not isinstance(permissions, dict):
        return set()
    return {k for k, v in permissions.items() if v == "write"}


def test_release_permissions_are_least_privilege(release):
    assert release.get("permissions") == {}, "release.yml grants nothing at the top; each job asks for what it needs"
    for name, job in release["jobs"].items():
        assert "permissions" in job, f"job {name} must state its permissions"
        scopes = _write_scopes(job["permissions"])
        if name == "image":
            assert scopes == {"id-token"}, f"image job may write only id-token (cosign keyless), has {scopes}"
        else:
            assert not scopes, f"job {name} needs no write permission, has {scopes}"
    ci = rs.load_workflow(CI)
    assert ci.get("permissions") == {"contents": "read"}
    for name, job in ci["jobs"].items():
        assert not _write_scopes(job.get("permissions")), f"ci job {name} must not write"


def test_release_triggers_and_ordering(release):
    push = release["on"]["push"]
    assert sorted(push["branches"]) == ["main", "staging"] and push["tags"] == ["v*"]
    jobs = release["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml", "release runs the CI workflow first"
    assert "ci" in jobs["image"]["needs"], "nothing is built before the tests pass"
    # Separate groups per ref and per environment: a production run waiting for approval holds
    # nothing of staging's.
    assert release["concurrency"]["group"] == "release-${{ github.ref }}"
    assert jobs["deploy"]["concurrency"]["group"] == "deploy-${{ needs.target.outputs.environment }}"
    assert {"image", "target"} <= set(jobs["deploy"]["needs"])
    ci_on = rs.load_workflow(CI)["on"]
    assert "workflow_call" in ci_on and "pull_request" in ci_on


def test_release_builds_signs_and_deploys_the_same_digest(release):
    steps = release["jobs"]["image"]["steps"]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action@"))
    with_ = build["with"]
    assert with_.get("push") is True and with_.get("sbom") is True and str(with_.get("provenance", "")).startswith("mode=")
    assert build["id"] == "build"
    sign = next(s for s in steps if "cosign sign" in s.get("run", ""))
    assert sign["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    assert release["jobs"]["image"]["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    deploy_env = {k: v for s in release["jobs"]["deploy"]["steps"] for k, v in (s.get("env") or {}).items()}
    assert release["jobs"]["deploy"]["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert set(release["jobs"]["image"]["outputs"]) == {"digest"}, "no image name in outputs: a secret in it blanks it"
    assert "secrets.KUBE_TOKEN" in deploy_env["KUBE_TOKEN"], "the token comes from the environment's secret"
    # Secrets reach scripts through env only, never through ${{ }} inside a run: script.
    for job in release["jobs"].values():
        for s in job.get("steps") or []:
            assert "${{" not in s.get("run", ""), f"expression inside a run: script: {s.get('name')}"


def test_ci_runs_make_lint_and_make_test():
    ci = rs.load_workflow(CI)
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert any(r.strip() == "make lint" for r in runs)
    assert any(r.strip() == "make test-no-podman" for r in runs)
    assert any("make test-podman" in r for r in runs), "the podman tests run on the runner"
    podman_job = next(job for job in ci["jobs"].values() if any("make test-podman" in s.get("run", "") for s in job["steps"]))
    assert "container" not in podman_job, "podman in a job container fails on cgroup v2 runners (podman#24737)"
    caches = [s for job in ci["jobs"].values() for s in job["steps"] if s.get("uses", "").startswith("actions/cache@")]
    assert caches and caches[0]["with"]["path"] == ".build"


# --------------------------------------------------------------------------------------------
# Travis: the same make targets, the same mapping
# --------------------------------------------------------------------------------------------
def _travis_scripts(job: dict) -> list[str]:
    script = job.get("script", [])
    return script if isinstance(script, list) else [script]


def test_travis_uses_the_same_make_targets_and_mapping():
    travis = yaml.safe_load(TRAVIS.read_text())
    jobs = travis["jobs"]["include"]
    assert any(".ci/run" in line or "make test" in line for job in jobs for line in _travis_scripts(job))
    deploys = {}
    for job in jobs:
        m = re.fullmatch(r"type = push AND branch = (\w+)", job.get("if", "").strip())
        script = "\n".join(_travis_scripts(job))
        if "make deploy" in script:
            assert m, f"a Travis deploy job without a push-to-one-branch condition: {job.get('name')}"
            deploys[m.group(1)] = (job, script)
    assert set(deploys) == {"staging", "main"}, f"Travis deploy jobs by branch: {sorted(deploys)}"
    for branch, (job, script) in deploys.items():
        environment, namespace, _ = EXPECTED[branch]
        other = next(e for e, _, _ in EXPECTED.values() if e != environment)
        assert f"make deploy ENV={environment} " in script and f"ENV={other}" not in script, script
        assert f"KUBE_NAMESPACE={namespace}" in str(job.get("env")), job.get("env")
        for piece in ("make image", "make push", 'BRANCH="$TRAVIS_BRANCH"', "scripts/kubeconfig", "APPLY=0",
                      'REPOSITORY="${IMAGE_REPOSITORY:-swift-microepoch}"',
                      'IMAGE_REF="$(cat out/push-ref)"', "--password-stdin"):
            assert piece in script, f"Travis {branch}: {piece!r} missing"
        assert "$KUBE_TOKEN" not in script, "the token reaches scripts/kubeconfig through the environment only"


def test_docs_say_what_travis_does_not_do():
    """Travis pushes no SBOM, provenance or signature and verifies none: the docs must say so."""
    travis = TRAVIS.read_text()
    assert "cosign" not in travis.split("\nos:")[1] and "sbom" not in travis.split("\nos:")[1].lower()
    docs = (REPO / "docs" / "continuous-delivery.md").read_text()
    section = docs.split("## Travis", 1)[1].split("\n## ", 1)[0]
    for fact in ("no SBOM", "no provenance", "no signature", "IMAGE_REPOSITORY"):
        assert fact in section, f"docs/continuous-delivery.md's Travis section does not say {fact!r}"


def test_travis_scripts_parse_as_bash(tmp_path):
    """Every Travis command, and every command given to in_swift, is valid bash."""
    travis = yaml.safe_load(TRAVIS.read_text())
    prelude = "\n".join(travis["before_script"])
    commands = [line for job in travis["jobs"]["include"] for line in _travis_scripts(job)]
    script = tmp_path / "travis.sh"
    script.write_text(prelude + "\nin_swift() { bash -n -c \"$1\" || exit 1; }\n" + "\n".join(commands) + "\n")
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "docker run" in prelude and "$SWIFT_IMAGE" in prelude
    assert not re.search(r"-e (REGISTRY_PASSWORD|KUBE_TOKEN)=", prelude), "secrets are passed by name only"


# --------------------------------------------------------------------------------------------
# The linters `make lint` runs can fail (actionlint really runs shellcheck on run: blocks)
# --------------------------------------------------------------------------------------------
def test_make_lint_catches_a_broken_workflow(tmp_path):
    import shutil

    venv_bin = REPO / ".venv" / "bin"
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: make deps installs it (tools/apt/lint.txt)"
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = rs.load_workflow(RELEASE)
    # An unquoted variable (shellcheck SC2086) and a job without timeout-minutes.
    bad["jobs"]["target"]["steps"][0]["run"] += 'rm -rf $RUNNER_TEMP/x\n'
    del bad["jobs"]["target"]["timeout-minutes"]
    path = workflows / "release.yml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    lint = subprocess.run(
        [str(venv_bin / "actionlint"), "-shellcheck", shellcheck, str(path)], cwd=tmp_path, capture_output=True, text=True
    )
    assert lint.returncode != 0 and "SC2086" in lint.stdout, lint.stdout + lint.stderr
    schema = subprocess.run(
        [str(venv_bin / "check-jsonschema"), "--builtin-schema", "custom.github-workflows-require-timeout", str(path)],
        capture_output=True, text=True,
    )
    assert schema.returncode != 0 and "timeout-minutes" in schema.stdout, schema.stdout
    # The real workflows pass both.
    for wf in (RELEASE, CI):
        ok = subprocess.run([str(venv_bin / "actionlint"), "-shellcheck", shellcheck, str(wf)], cwd=REPO, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
