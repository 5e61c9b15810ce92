"""The private registry (make registry-up / registry-down, deploy/registry/) and `make push`:
authentication is required, an authenticated push lands, a clean store pulls the same digest, and
what it pulled runs and serves. Run by `make registry-test` after `make image`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import stat
import tempfile
from pathlib import Path

import pytest

from harness.container import (
    engine_env, image_name, image_ref, inspect, listening_addresses, podman, rev, run,
)
from harness.http import EPOCH_JSON_RE, http_get, wait_for_http
from harness.ports import free_port, port_open
from harness.servers import git_short_rev

pytestmark = pytest.mark.registry  # make registry-test

REPOSITORY = "swift-microepoch"
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def make(*args: str, env: dict | None = None, check: bool = True):
    return run(["make", "--no-print-directory", *args], env=env, check=check, timeout=300)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry of our own (state dir and port of the test), started and stopped with the make targets."""
    assert podman("image", "exists", image_ref(), check=False).returncode == 0, f"no image {image_ref()}: make image"
    state = tmp_path_factory.mktemp("registry-state")
    port = free_port()
    env = engine_env({"REGISTRY_STATE": str(state), "REGISTRY_PORT": str(port)})
    work = tmp_path_factory.mktemp("registry-client")
    up = make("registry-up", env=env)
    info = {
        "state": state, "port": port, "env": env, "up": up, "work": work,
        "host": f"127.0.0.1:{port}",
        "password": (state / "secret" / "password").read_text(),
        "cert_dir": state / "certs.d" / f"127.0.0.1:{port}",
        "tls": ssl.create_default_context(cafile=str(state / "ca.crt")),
    }
    try:
        yield info
    finally:
        make("registry-down", env=env, check=False)
        for tag in (rev(), "registry-test-branch"):
            podman("rmi", f"{info['host']}/{REPOSITORY}:{tag}", check=False)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_up_prints_how_to_log_in_and_never_the_password(registry) -> None:
    out = registry["up"].stdout + registry["up"].stderr
    assert registry["password"] and registry["password"] not in out
    assert "--password-stdin" in out and f"https://{registry['host']}" in out
    secret = registry["state"] / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o700
    assert stat.S_IMODE((secret / "password").stat().st_mode) == 0o600
    user, _, hashed = (secret / "htpasswd").read_text().strip().partition(":")
    assert user == "epoch" and hashed.startswith(("$2y$", "$2b$", "$2a$")), "htpasswd must hold bcrypt"
    # the secrets are generated, not committed
    tracked = run(["git", "ls-files", "deploy/registry"]).stdout.split()
    assert all(not name.endswith(("htpasswd", ".key", ".pem", "password")) for name in tracked), tracked


def test_everything_listens_on_loopback_only(registry) -> None:
    state = registry["state"]
    pids = [int((state / "registry" / "registry.pid").read_text()), int((state / "nginx" / "nginx.pid").read_text())]
    addresses = listening_addresses(pids)
    assert ("127.0.0.1", registry["port"]) in addresses, addresses
    assert len(addresses) >= 2, f"expected nginx and docker-registry listeners: {addresses}"
    assert {addr for addr, _ in addresses} == {"127.0.0.1"}, addresses


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_certificate_verifies_for_both_names(registry, host: str) -> None:
    status, _, _ = http_get(f"https://{host}:{registry['port']}/v2/", context=registry["tls"])
    assert status == 401


def test_v2_requires_the_generated_credentials(registry) -> None:
    url = f"https://{registry['host']}/v2/"
    status, headers, _ = http_get(url, context=registry["tls"])
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic "), headers["www-authenticate"]
    assert http_get(url, context=registry["tls"], headers=basic("epoch", "wrong"))[0] == 401
    assert http_get(url, context=registry["tls"], headers=basic("epoch", registry["password"]))[0] == 200
    # plain HTTP on the TLS port is not served
    assert http_get(f"http://{registry['host']}/v2/")[0] == 400


def test_unauthenticated_push_is_refused_with_401(registry) -> None:
    empty_auth = registry["work"] / "no-credentials.json"
    empty_auth.write_text("{}")
    dest = f"{registry['host']}/{REPOSITORY}:unauthenticated"
    proc = podman("push", "--authfile", str(empty_auth), "--cert-dir", str(registry["cert_dir"]),
                  image_ref(), f"docker://{dest}", check=False)
    assert proc.returncode != 0, "an unauthenticated push succeeded"
    assert "unauthorized" in proc.stderr.lower() or "authentication required" in proc.stderr.lower(), proc.stderr
    log = (registry["state"] / "nginx" / "access.log").read_text().splitlines()
    refused = [line for line in log if f"/v2/{REPOSITORY}/" in line and '" 401 ' in line]
    assert refused, "the proxy log shows no 401 for the push"
    assert not [line for line in log if f"/v2/{REPOSITORY}/" in line and '" 201 ' in line], "something was stored"
    # nothing landed
    status, _, _ = http_get(f"https://{registry['host']}/v2/{REPOSITORY}/tags/list", context=registry["tls"],
                            headers=basic("epoch", registry["password"]))
    assert status == 404


@pytest.fixture(scope="module")
def pushed(registry):
    """`make push` right after `make registry-up`, as the README says: no login of our own. It uses
    the login registry-up made into its state directory (and the user's own podman login is not
    consulted: REGISTRY_AUTH_FILE is unset)."""
    auth = registry["state"] / "secret" / "auth.json"
    env = {k: v for k, v in registry["env"].items() if k != "REGISTRY_AUTH_FILE"}
    assert auth.exists(), "registry-up did not log in"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert registry["password"] not in auth.read_text()  # stored base64-encoded, but never in clear
    digest_file = registry["work"] / "push-digest"
    push = make("push", f"REGISTRY={registry['host']}", f"IMAGE={image_name()}", f"REV={rev()}",
                "BRANCH=registry-test-branch", f"PUSH_DIGEST_FILE={digest_file}", env=env)
    return {"auth": auth, "env": env, "digest": digest_file.read_text().strip(), "push": push,
            "ref_file": digest_file.parent / "push-ref"}


def test_push_without_a_login_says_so(registry) -> None:
    """The control of `pushed`: with an auth file that holds no login, make push stops and prints
    the exact command that logs in."""
    empty = registry["work"] / "empty-auth.json"
    empty.write_text("{}")
    proc = make("push", f"REGISTRY={registry['host']}", f"IMAGE={image_name()}", f"REV={rev()}",
                env={**registry["env"], "REGISTRY_AUTH_FILE": str(empty)}, check=False)
    assert proc.returncode != 0
    assert f"not logged in to {registry['host']}" in proc.stderr, proc.stderr
    assert "--password-stdin" in proc.stderr and registry["password"] not in proc.stdout + proc.stderr


def test_authenticated_push_lands_under_rev_and_branch(registry, pushed) -> None:
    digest = pushed["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71, digest
    assert digest in pushed["push"].stdout  # printed
    assert pushed["ref_file"].read_text().strip() == f"{registry['host']}/{REPOSITORY}@{digest}"
    assert registry["password"] not in pushed["push"].stdout + pushed["push"].stderr
    auth = basic("epoch", registry["password"])
    status, _, body = http_get(f"https://{registry['host']}/v2/{REPOSITORY}/tags/list",
                               context=registry["tls"], headers=auth)
    assert status == 200
    assert set(json.loads(body)["tags"]) == {rev(), "registry-test-branch"}
    for tag in (rev(), "registry-test-branch"):
        status, headers, _ = http_get(f"https://{registry['host']}/v2/{REPOSITORY}/manifests/{tag}",
                                      context=registry["tls"], method="HEAD",
                                      headers={**auth, "Accept": MANIFEST_TYPES})
        assert status == 200 and headers["docker-content-digest"] == digest, (tag, status, dict(headers))


def test_push_dry_run_prints_commands_and_pushes_nothing(registry) -> None:
    proc = make("push", f"REGISTRY={registry['host']}", f"IMAGE={image_name()}", f"REV={rev()}",
                "BRANCH=dry-run-branch", "DRY_RUN=1", f"PUSH_DIGEST_FILE={registry['work']}/dry-digest",
                env=registry["env"])
    assert "podman push" in proc.stdout and "dry-run-branch" in proc.stdout
    assert not (registry["work"] / "dry-digest").exists()
    assert podman("image", "exists", f"{registry['host']}/{REPOSITORY}:dry-run-branch", check=False).returncode != 0


@pytest.fixture(scope="module")
def clean_store(registry, pushed):
    """A store that never saw the image: podman --root/--runroot, vfs."""
    root = Path(tempfile.mkdtemp(prefix="epoch-store-", dir="/tmp"))  # podman: runroot <= 50 characters
    store = ["--root", str(root / "root"), "--runroot", str(root / "runroot"), "--storage-driver", "vfs"]
    try:
        yield store
    finally:
        podman("rm", "--all", "--force", store=store, check=False)
        podman("rmi", "--all", "--force", store=store, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_pull_into_a_clean_store_gets_the_same_digest(registry, pushed, clean_store) -> None:
    assert podman("images", "--quiet", store=clean_store).stdout.strip() == "", "the store is not clean"
    ref = f"{registry['host']}/{REPOSITORY}:{rev()}"
    podman("pull", "--authfile", str(pushed["auth"]), "--cert-dir", str(registry["cert_dir"]), ref,
           store=clean_store)
    pulled = inspect("image", ref, store=clean_store)
    assert pulled["Digest"] == pushed["digest"]
    assert pulled["Id"] == inspect("image", image_ref())["Id"], "the pulled config differs from the local image"


def test_pulled_image_runs_and_serves(registry, pushed, clean_store) -> None:
    ref = f"{registry['host']}/{REPOSITORY}@{pushed['digest']}"
    if podman("image", "exists", ref, store=clean_store, check=False).returncode != 0:
        podman("pull", "--authfile", str(pushed["auth"]), "--cert-dir", str(registry["cert_dir"]), ref,
               store=clean_store)
    port = free_port()
    name = f"epoch-registry-test-{os.getpid()}"
    podman("run", "--detach", "--name", name, "--read-only", "--cap-drop=ALL",
           "--security-opt=no-new-privileges", "--publish", f"127.0.0.1:{port}:8080", ref, store=clean_store)
    try:
        body = wait_for_http(f"http://127.0.0.1:{port}/", timeout=15).decode()
        assert EPOCH_JSON_RE.match(body), body
        assert f'"rev":"{git_short_rev()}"' in body, body
        assert podman("stop", "--time", "20", name, store=clean_store).returncode == 0
        assert inspect("container", name, store=clean_store)["State"]["ExitCode"] == 0
    finally:
        podman("rm", "--force", name, store=clean_store, check=False)


def test_down_stops_exactly_what_up_started(registry) -> None:
    state = registry["state"]
    pids = [int((state / "registry" / "registry.pid").read_text()), int((state / "nginx" / "nginx.pid").read_text())]
    assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    down = make("registry-down", env=registry["env"])
    assert "stopped" in down.stdout
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a registry process survived registry-down"
    assert not port_open(registry["port"])
    again = make("registry-down", env=registry["env"])
    assert "nothing running" in again.stdout
    # up again on the same state: same user and password still work (secrets are kept, not regenerated)
    make("registry-up", env=registry["env"])
    status = http_get(f"https://{registry['host']}/v2/", context=registry["tls"],
                      headers=basic("epoch", registry["password"]))[0]
    assert status == 200
