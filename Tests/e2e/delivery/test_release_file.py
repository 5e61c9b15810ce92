"""GitOps delivery of an environment with a release file (docs/multi-cluster.md), run here as
release.yml's release-file and manifests jobs would run it, in a scratch git repository whose
`origin` is a bare repository on disk, with recording stand-ins for gh, flux and cosign first on PATH:

- scripts/release-file writes a digest into deploy/k8s/releases/ENV/release.yaml, which holds the
  digest only: every cluster of the environment then renders `<the table's image>@<digest>`;
- scripts/release-pull-request commits that one change on release/ENV, pushes it (a real git push)
  and opens or updates the pull request; it proposes nothing for a merged release, a superseded run,
  or a digest already there, and refuses bad input with one line;
- scripts/release-manifests pushes deploy/k8s as a Flux OCI artifact, signs its digest with cosign
  and verifies it with the identity deploy/flux's OCIRepository expects, then moves the branch's tag.

What this cannot catch: GitHub's and the registry's real answers (the stand-ins answer as their
documentation says), Fulcio and Rekor, and source-controller's own verification.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.kubernetes import IMAGE, TABLE, kubectl
from harness.paths import REPO_ROOT as REPO

pytestmark = pytest.mark.release_pipeline  # make release-pipeline-test

GITOPS = {e["branch"]: e for e in TABLE["environments"] if e.get("branch") and e.get("release")}
PUSHED = sorted(e["branch"] for e in TABLE["environments"] if e.get("branch") and not e.get("release"))
CLUSTERS = sorted(p.name for p in (REPO / "deploy" / "k8s" / "clusters").iterdir() if p.name != "components")
REPOSITORY = "example/swift-microepoch"
ISSUER = "https://token.actions.githubusercontent.com"
DIGEST_A, DIGEST_B = "sha256:" + "ab" * 32, "sha256:" + "cd" * 32
ARTIFACT_DIGEST = "sha256:" + "ef" * 32

FAKE_GH = '''case "$1 $2" in
  "api "*) echo "${FAKE_GH_HEAD:-}" ;;
  "pr list") echo "${FAKE_PR_NUMBER:-}" ;;
esac'''
FAKE_COSIGN = '[[ $1 == verify && ${FAKE_COSIGN_RC:-0} != 0 ]] && { echo "Error: no matching signatures (fake)" >&2; exit 1; }; exit 0'
# flux push artifact: keeps a copy of --path (what the artifact would hold) and prints what
# `--output json` prints (the repository and the digest: Flux's documented signing example reads them).
FAKE_FLUX = '''if [[ "$1 $2" == "push artifact" ]]; then
  url=$3; repo=${url#oci://}; repo=${repo%:*}
  for a in "$@"; do [[ $a == --path=* ]] && cp -r "${a#--path=}" "$FAKE_FLUX_ARTIFACT"; done
  [[ -n ${FAKE_FLUX_NO_DIGEST:-} ]] && { echo '{}'; exit 0; }
  printf '{"repository":"%s","digest":"%s","tag":"%s","url":"%s"}\\n' "$repo" "$FAKE_ARTIFACT_DIGEST" "${url##*:}" "$url"
fi'''


def fake_tool(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "$FAKE_LOG_DIR/{name}.log"\n'
                    f'printf "{name} %s\\n" "$*" >> "$FAKE_LOG_DIR/all.log"\n{body}\n')
    path.chmod(0o755)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class Checkout:
    """A runner's checkout of `main` (scripts/ and deploy/k8s of this repository), its origin, fakes."""

    tmp: Path
    work: Path
    origin: Path
    bin: Path

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def commit(self, path: str, text: str, message: str) -> str:
        """A commit on main, pushed: what a merge or a change would leave on the branch."""
        (self.work / path).write_text(text)
        git(self.work, "add", path)
        git(self.work, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", "HEAD:refs/heads/main")
        return self.head()

    def fresh(self) -> None:
        """As a new run's checkout: at origin's main, nothing else."""
        git(self.work, "fetch", "-q", "origin", "main")
        git(self.work, "reset", "-q", "--hard", "FETCH_HEAD")

    def log(self, tool: str) -> list[str]:
        path = self.tmp / "logs" / f"{tool}.log"
        return path.read_text().splitlines() if path.exists() else []

    def run(self, script: str, branch: str = "main", **extra: str) -> subprocess.CompletedProcess:
        sha = self.head()
        env = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
        env.update(PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}", GITHUB_ACTIONS="true",
                   GITHUB_REF_TYPE="branch", GITHUB_REF_NAME=branch, GITHUB_SHA=sha, GITHUB_REPOSITORY=REPOSITORY,
                   GITHUB_SERVER_URL="https://github.com",
                   GITHUB_WORKFLOW_REF=f"{REPOSITORY}/.github/workflows/release.yml@refs/heads/{branch}",
                   GH_TOKEN="fake-token", FAKE_GH_HEAD=sha, FAKE_LOG_DIR=str(self.tmp / "logs"),
                   FAKE_FLUX_ARTIFACT=str(self.tmp / "artifact"), FAKE_ARTIFACT_DIGEST=ARTIFACT_DIGEST,
                   RUNNER_TEMP=str(self.tmp / "runner-temp"), GITHUB_STEP_SUMMARY=str(self.tmp / "summary.md"))
        env.update(extra)
        for key in [k for k, v in env.items() if v is None]:
            env.pop(key)
        return subprocess.run([str(self.work / "scripts" / script)], cwd=self.work, env=env,
                              capture_output=True, text=True, timeout=120)


@pytest.fixture()
def checkout(tmp_path: Path) -> Checkout:
    origin, work, bindir = tmp_path / "origin.git", tmp_path / "work", tmp_path / "bin"
    for d in (bindir, tmp_path / "logs", tmp_path / "runner-temp"):
        d.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    shutil.copytree(REPO / "scripts", work / "scripts")
    shutil.copytree(REPO / "deploy" / "k8s", work / "deploy" / "k8s")
    (work / "README.md").write_text("scratch\n")
    git(work.parent, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(origin))
    git(work, "add", ".")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "initial")
    git(work, "push", "-q", "origin", "main")
    fake_tool(bindir, "gh", FAKE_GH)
    fake_tool(bindir, "cosign", FAKE_COSIGN)
    fake_tool(bindir, "flux", FAKE_FLUX)
    return Checkout(tmp_path, work, origin, bindir)


def release_file(root: Path, environment: str = "production") -> Path:
    row = next(e for e in TABLE["environments"] if e["name"] == environment)
    return root / row["release"] / "release.yaml"


def cluster_images(k8s: Path) -> dict[str, set[str]]:
    """The images of every Deployment and DaemonSet container, per cluster of production."""
    images = {}
    for cluster in CLUSTERS:
        out = subprocess.run([kubectl(), "kustomize", str(k8s / "clusters" / cluster / "production")],
                             capture_output=True, text=True, env={**os.environ, "KUBECONFIG": "/dev/null"})
        assert out.returncode == 0, out.stderr
        images[cluster] = {c["image"] for d in yaml.safe_load_all(out.stdout) if d and d["kind"] in ("Deployment", "DaemonSet")
                           for c in d["spec"]["template"]["spec"]["containers"]}
    return images


def origin_branch(checkout: Checkout, branch: str) -> str | None:
    out = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/heads/{branch}"], cwd=checkout.origin,
                         capture_output=True, text=True)
    return out.stdout.strip() or None


# --------------------------------------------------------------------------------------------
# scripts/release-file
# --------------------------------------------------------------------------------------------
def test_the_release_file_holds_the_digest_only_and_the_clusters_take_the_tables_image(checkout: Checkout) -> None:
    assert GITOPS, "no environment of the table has a release file"
    path = release_file(checkout.work)
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "Release" and set(doc["spec"]) == {"digest"}
    assert doc["metadata"]["annotations"]["config.kubernetes.io/local-config"] == "true", "never applied"
    assert IMAGE.split("/")[0] not in path.read_text() and IMAGE not in path.read_text()
    first = subprocess.run([str(checkout.work / "scripts" / "release-file"), "production", DIGEST_A],
                           capture_output=True, text=True)
    assert first.returncode == 0 and "now at" in first.stdout, first.stderr
    assert cluster_images(checkout.work / "deploy" / "k8s") == {c: {f"{IMAGE}@{DIGEST_A}"} for c in CLUSTERS}
    # The image's name follows the table: another registry there, and every cluster runs from it.
    table = checkout.work / "deploy" / "k8s" / "environments" / "environments.yaml"
    other = "registry.other.example:5000/team/swift-microepoch"
    table.write_text(table.read_text().replace(f"image: {IMAGE}", f"image: {other}"))
    assert cluster_images(checkout.work / "deploy" / "k8s") == {c: {f"{other}@{DIGEST_A}"} for c in CLUSTERS}


def test_release_file_is_idempotent_and_refuses_bad_input_in_one_line(checkout: Checkout) -> None:
    def release(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(checkout.work / "scripts" / "release-file"), *args], capture_output=True, text=True)

    path = release_file(checkout.work)
    assert release("production", DIGEST_A).returncode == 0
    written = path.read_text()
    again = release("production", DIGEST_A)
    assert again.returncode == 0 and "already at" in again.stdout and path.read_text() == written
    for args in (["production", "sha256:" + "AB" * 32], ["production", "sha256:" + "ab" * 31],
                 ["production", "sha512:" + "ab" * 32], ["production", DIGEST_B + "\nx"], ["production", "ab" * 32],
                 ["nowhere", DIGEST_B], ["staging", DIGEST_B], ["production"], ["-x", DIGEST_B]):
        out = release(*args)
        assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
        assert out.stderr.startswith("release-file: "), out.stderr
        assert path.read_text() == written, f"{args} changed the release file"
    # Control: a good digest after all that still moves it.
    assert release("production", DIGEST_B).returncode == 0 and DIGEST_B in path.read_text()


def test_a_release_file_without_its_digest_line_fails_the_render_and_the_script(checkout: Checkout) -> None:
    """The replacement is real: with no spec.digest, kustomize refuses to build (no image without a digest)."""
    path = release_file(checkout.work)
    path.write_text(path.read_text().replace("  digest: ", "  digestt: "))
    out = subprocess.run([kubectl(), "kustomize", str(checkout.work / "deploy/k8s/clusters" / CLUSTERS[0] / "production")],
                         capture_output=True, text=True, env={**os.environ, "KUBECONFIG": "/dev/null"})
    assert out.returncode != 0
    bad = subprocess.run([str(checkout.work / "scripts" / "release-file"), "production", DIGEST_A], capture_output=True, text=True)
    assert bad.returncode == 1 and "exactly one line" in bad.stderr


def test_the_tables_release_column_is_checked(checkout: Checkout) -> None:
    table = checkout.work / "deploy" / "k8s" / "environments" / "environments.yaml"
    good = subprocess.run([str(checkout.work / "scripts" / "environments"), "for-ref", "branch", "main"], capture_output=True, text=True)
    assert good.returncode == 0 and "release=deploy/k8s/releases/production" in good.stdout
    table.write_text(table.read_text().replace("release: deploy/k8s/releases/production", "release: ../elsewhere"))
    bad = subprocess.run([str(checkout.work / "scripts" / "environments"), "for-ref", "branch", "main"], capture_output=True, text=True)
    assert bad.returncode == 2 and "is not deploy/k8s/releases/NAME" in bad.stderr


# --------------------------------------------------------------------------------------------
# scripts/release-pull-request
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("branch", sorted(GITOPS))
def test_the_digest_is_proposed_by_pull_request(checkout: Checkout, branch: str) -> None:
    environment = GITOPS[branch]["name"]
    base = checkout.head()
    out = checkout.run("release-pull-request", branch, DIGEST=DIGEST_A)
    assert out.returncode == 0, out.stdout + out.stderr
    proposed = origin_branch(checkout, f"release/{environment}")
    assert proposed, "no branch release/<environment> on origin"
    assert origin_branch(checkout, branch) == base, "the script must never push to the environment's branch"
    assert git(checkout.origin, "rev-parse", f"{proposed}^1") == base, "the proposal sits on this run's commit"
    changed = git(checkout.origin, "diff", "--name-only", base, proposed).splitlines()
    assert changed == [f"{GITOPS[branch]['release']}/release.yaml"], changed
    # What Flux would apply once it is merged: every cluster on the proposed digest.
    merged = checkout.tmp / "merged"
    git(checkout.tmp, "clone", "-q", "-b", f"release/{environment}", str(checkout.origin), str(merged))
    assert cluster_images(merged / "deploy" / "k8s") == {c: {f"{IMAGE}@{DIGEST_A}"} for c in CLUSTERS}
    creates = [line for line in checkout.log("gh") if line.startswith("pr create")]
    assert len(creates) == 1 and f"--base {branch} --head release/{environment}" in creates[0]
    assert DIGEST_A in creates[0]
    assert "fake-token" not in out.stdout + out.stderr + "\n".join(checkout.log("gh"))


def test_a_rerun_and_a_newer_digest_update_the_one_pull_request(checkout: Checkout) -> None:
    assert checkout.run("release-pull-request", DIGEST=DIGEST_A).returncode == 0
    first = origin_branch(checkout, "release/production")
    # The same run again (a re-run), with its pull request open: nothing is pushed, nothing opened.
    checkout.fresh()
    again = checkout.run("release-pull-request", DIGEST=DIGEST_A, FAKE_PR_NUMBER="7")
    assert again.returncode == 0 and "already proposes" in again.stdout, again.stdout + again.stderr
    assert origin_branch(checkout, "release/production") == first
    # A newer digest while that pull request is open: the branch moves, the same pull request is edited.
    checkout.fresh()
    newer = checkout.run("release-pull-request", DIGEST=DIGEST_B, FAKE_PR_NUMBER="7")
    assert newer.returncode == 0, newer.stderr
    moved = origin_branch(checkout, "release/production")
    assert moved != first and DIGEST_B in git(checkout.origin, "show", f"{moved}:deploy/k8s/releases/production/release.yaml")
    gh = checkout.log("gh")
    assert len([line for line in gh if line.startswith("pr create")]) == 1, "one pull request, opened once"
    assert any(line.startswith("pr edit 7 ") for line in gh)


def test_a_merged_release_proposes_nothing_and_a_change_does(checkout: Checkout) -> None:
    """Merging the release pull request pushes to main, which builds a new image: proposing it would
    open a release pull request after every merge, for ever. The control: any other change proposes."""
    path = "deploy/k8s/releases/production/release.yaml"
    text = (checkout.work / path).read_text().replace("sha256:" + "0" * 64, DIGEST_A)
    checkout.commit(path, text, "release production (merged)")
    merged = checkout.run("release-pull-request", DIGEST=DIGEST_B)
    assert merged.returncode == 0 and "changes release files only" in merged.stdout, merged.stdout + merged.stderr
    assert origin_branch(checkout, "release/production") is None and not checkout.log("gh")
    checkout.commit("README.md", "a change\n", "a change")
    change = checkout.run("release-pull-request", DIGEST=DIGEST_B)
    assert change.returncode == 0 and origin_branch(checkout, "release/production"), change.stdout + change.stderr


def test_nothing_is_proposed_when_there_is_nothing_to_propose(checkout: Checkout) -> None:
    # A superseded run: the branch moved on; the newer run proposes its own digest.
    superseded = checkout.run("release-pull-request", DIGEST=DIGEST_A, FAKE_GH_HEAD="f" * 40)
    assert superseded.returncode == 0 and "the newer run proposes" in superseded.stdout
    # The digest is already the branch's.
    current = yaml.safe_load(release_file(checkout.work).read_text())["spec"]["digest"]
    same = checkout.run("release-pull-request", DIGEST=current)
    assert same.returncode == 0 and "nothing to propose" in same.stdout
    # Branches without a release file (CI rolls them out), and tags.
    for branch in PUSHED:
        other = checkout.run("release-pull-request", branch, DIGEST=DIGEST_A)
        assert other.returncode == 0 and "nothing to do" in other.stdout
    tag = checkout.run("release-pull-request", "v1.2.3", DIGEST=DIGEST_A, GITHUB_REF_TYPE="tag")
    assert tag.returncode == 0 and "nothing to do" in tag.stdout
    assert origin_branch(checkout, "release/production") is None
    assert not [line for line in checkout.log("gh") if line.startswith("pr ")]


@pytest.mark.parametrize("change, message", [
    ({"DIGEST": "sha256:" + "AB" * 32}, "is not sha256:<64 hex>"),
    ({"DIGEST": None}, "is not sha256:<64 hex>"),
    ({"GH_TOKEN": None}, "GH_TOKEN is not set"),
    ({"GITHUB_SHA": "0" * 40}, "not at this run's"),
], ids=["uppercase-digest", "no-digest", "no-token", "other-commit"])
def test_bad_input_fails_in_one_line_and_pushes_nothing(checkout: Checkout, change: dict, message: str) -> None:
    out = checkout.run("release-pull-request", **{"DIGEST": DIGEST_A, **change})
    assert out.returncode == 1 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert origin_branch(checkout, "release/production") is None
    # Control: the same run with good input proposes.
    assert checkout.run("release-pull-request", DIGEST=DIGEST_A).returncode == 0
    assert origin_branch(checkout, "release/production")


# --------------------------------------------------------------------------------------------
# scripts/release-manifests, and what Flux verifies
# --------------------------------------------------------------------------------------------
def flux_source() -> dict:
    path = REPO / "deploy" / "flux" / "clusters" / f"{CLUSTERS[0]}-production.yaml"
    return next(d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "OCIRepository")


def flux_accepts(identity: str, issuer: str = ISSUER) -> bool:
    """OCIRepository.spec.verify.matchOIDCIdentity as source-controller applies it: any entry whose
    issuer and subject regexes both match; OWNER/REPO are the placeholders deploy/flux documents."""
    for entry in flux_source()["spec"]["verify"]["matchOIDCIdentity"]:
        subject = entry["subject"].replace("OWNER/REPO", REPOSITORY)
        if re.search(entry["issuer"], issuer) and re.search(subject, identity):
            return True
    return False


@pytest.mark.parametrize("branch", sorted(GITOPS))
def test_the_manifests_are_pushed_signed_verified_then_tagged(checkout: Checkout, branch: str) -> None:
    sha = checkout.head()
    out = checkout.run("release-manifests", branch)
    assert out.returncode == 0, out.stdout + out.stderr
    repository = f"{IMAGE}-manifests"
    flux = checkout.log("flux")
    cosign = checkout.log("cosign")
    assert flux[0].startswith(f"push artifact oci://{repository}:{sha[:7]} --path=")
    assert f"--revision={branch}@sha1:{sha}" in flux[0] and f"--source=https://github.com/{REPOSITORY}" in flux[0]
    assert cosign[0] == f"sign --yes {repository}@{ARTIFACT_DIGEST}"
    identity = cosign[1].split("--certificate-identity ")[1].split()[0]
    assert cosign[1].startswith(f"verify {repository}@{ARTIFACT_DIGEST} ") and f"--certificate-oidc-issuer {ISSUER}" in cosign[1]
    assert flux[1] == f"tag artifact oci://{repository}:{sha[:7]} --tag {branch}"
    order = [line.split()[:2] for line in checkout.log("all") if line.split()[0] in ("flux", "cosign")]
    assert order == [["flux", "push"], ["cosign", "sign"], ["cosign", "verify"], ["flux", "tag"]], \
        "the branch's tag moves only after the signature is made and verified"
    # What each cluster's OCIRepository pulls and accepts: this repository, this tag, this identity.
    source = flux_source()["spec"]
    assert source["url"] == "oci://" + repository.replace(IMAGE.split("/")[0], "REGISTRY", 1)
    assert source["ref"]["tag"] == branch
    assert flux_accepts(identity), f"Flux would refuse the signature of {identity}"
    # Controls: the same signature from another branch's run, or from another workflow, is refused.
    assert not flux_accepts(identity.replace(f"@refs/heads/{branch}", "@refs/heads/feature-x"))
    assert not flux_accepts(identity.replace("release.yml", "ci.yml"))
    assert not flux_accepts(identity, issuer="https://accounts.google.com")
    # The artifact holds deploy/k8s as git tracks it, and Flux's paths render from it.
    artifact = checkout.tmp / "artifact"
    tracked = set(git(checkout.work, "ls-files", "deploy/k8s").splitlines())
    held = {str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file()}
    assert held == tracked
    digest = yaml.safe_load(release_file(artifact).read_text())["spec"]["digest"]
    assert cluster_images(artifact / "deploy" / "k8s") == {c: {f"{IMAGE}@{digest}"} for c in CLUSTERS}
    for kustomization in (d for d in yaml.safe_load_all((REPO / "deploy/flux/clusters" / f"{CLUSTERS[0]}-production.yaml").read_text())
                          if d and d["kind"] == "Kustomization"):
        assert (artifact / kustomization["spec"]["path"] / "kustomization.yaml").is_file(), kustomization["spec"]["path"]


def test_an_unverified_signature_leaves_the_tag_where_it_was(checkout: Checkout) -> None:
    out = checkout.run("release-manifests", FAKE_COSIGN_RC="1")
    assert out.returncode == 1 and "tag not moved" in out.stderr
    assert not [line for line in checkout.log("flux") if line.startswith("tag ")]


def test_a_superseded_run_pushes_and_signs_but_leaves_the_tag(checkout: Checkout) -> None:
    out = checkout.run("release-manifests", FAKE_GH_HEAD="f" * 40)
    assert out.returncode == 0 and "left to the newer run" in out.stdout
    assert checkout.log("cosign") and not [line for line in checkout.log("flux") if line.startswith("tag ")]


def test_release_manifests_pushes_nothing_for_other_refs_and_fails_loudly(checkout: Checkout) -> None:
    for branch in PUSHED:
        out = checkout.run("release-manifests", branch)
        assert out.returncode == 0 and "nothing to push" in out.stdout
    assert not checkout.log("flux") and not checkout.log("cosign")
    no_digest = checkout.run("release-manifests", FAKE_FLUX_NO_DIGEST="1")
    assert no_digest.returncode == 1 and not checkout.log("cosign"), no_digest.stderr
    no_identity = checkout.run("release-manifests", GITHUB_WORKFLOW_REF=None)
    assert no_identity.returncode == 1 and "GITHUB_WORKFLOW_REF" in no_identity.stderr


# --------------------------------------------------------------------------------------------
# The workflow wires them
# --------------------------------------------------------------------------------------------
def test_release_yml_wires_the_release_file_and_manifests_jobs() -> None:
    doc = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    jobs = doc["jobs"]
    proposal, manifests = jobs["release-file"], jobs["manifests"]
    assert proposal["needs"] == ["plan", "image"] and "environment" not in proposal
    [step] = [s for s in proposal["steps"] if s.get("run")]
    assert step["run"] == "scripts/release-pull-request"
    assert step["env"] == {"DIGEST": "${{ needs.image.outputs.digest }}", "GH_TOKEN": "${{ github.token }}"}
    checkout = next(s for s in proposal["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 2}
    assert "ci" in manifests["needs"]
    uses = [s.get("uses", "").split("@")[0] for s in manifests["steps"]]
    assert {"fluxcd/flux2/action", "sigstore/cosign-installer", "docker/login-action"} <= set(uses)
    assert manifests["steps"][-1]["run"] == "scripts/release-manifests"
    assert json.dumps(jobs).count("pull-requests") == 1, "pull-requests: write in the release-file job only"
