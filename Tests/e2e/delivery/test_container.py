"""The container image (make image): what it holds, and the container `make run` starts, seen from
podman and from the kernel. Run by `make container-test` after `make image`."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.container import (
    NONROOT, build_stand_in_swift_image, engine_env, image_files, image_ref, inspect, podman, proc_status, rev,
    root_mount_options, run,
)
from harness.http import EPOCH_JSON_RE, http_get, wait_for_http
from harness.paths import REPO_ROOT
from harness.ports import free_port, port_open
from harness.servers import git_short_rev

pytestmark = pytest.mark.container  # make container-test

SIZE_TARGET = 12 * 1000 * 1000  # bytes: the goal (go-microepoch's scratch image is 8.45 MB)
SHUTDOWN_DELAY = "2s"           # the drain window the stop test watches /readyz through
IMAGE_BUDGET_FILE = REPO_ROOT / "tools" / "image-budget"


def image_budget() -> int:
    """The size the image must not exceed, from its one home (tools/image-budget)."""
    [line] = [line for line in IMAGE_BUDGET_FILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return int(line)


@pytest.fixture(scope="module")
def image() -> dict:
    ref = image_ref()
    found = podman("image", "exists", ref, check=False)
    assert found.returncode == 0, f"no image {ref}: run make image"
    return inspect("image", ref)


def image_run(name: str, port: int, *extra: str) -> subprocess.CompletedProcess:
    """scripts/image-run: exactly what `make run` does."""
    env = engine_env({"CONTAINER": name, "PORT": str(port), "IMAGE": image_ref().rsplit(":", 1)[0],
                      "REV": rev(), "RUN_ENV": f"EPOCH_SHUTDOWN_DELAY={SHUTDOWN_DELAY}"})
    return run([str(REPO_ROOT / "scripts" / "image-run"), *extra], env=env, timeout=60)


@pytest.fixture(scope="module")
def container(image):
    """The container `make run` starts (started twice: the second run must replace the first)."""
    name = f"epoch-container-test-{os.getpid()}"
    port = free_port()
    try:
        first = image_run(name, port)
        first_id = inspect("container", name)["Id"]
        second = image_run(name, port)
        info = inspect("container", name)
        yield {"name": name, "port": port, "first_id": first_id, "info": info,
               "outputs": (first.stdout, second.stdout)}
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


def test_image_config(image) -> None:
    cfg = image["Config"]
    assert cfg["User"] == f"{NONROOT}:{NONROOT}"  # numeric: runAsNonRoot can verify it
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert cfg["Entrypoint"] == ["/epoch"]
    assert cfg["Cmd"] == ["serve"]
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.revision"] == rev()
    for key in ("source", "version", "licenses"):
        assert labels[f"org.opencontainers.image.{key}"], key
    # The label names the license the repository carries.
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "Apache License\n                           Version 2.0" in (REPO_ROOT / "LICENSE").read_text()
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_image_size_is_within_its_budget(image, capsys) -> None:
    size, budget = image["Size"], image_budget()
    with capsys.disabled():
        print(f"\ncontainer-test: image {image_ref()} is {size / 1e6:.2f} MB ({size:,} bytes); budget "
              f"{budget:,} bytes (tools/image-budget), goal {SIZE_TARGET / 1e6:.0f} MB (go-microepoch: 8.45 MB)")
    assert 0 < size <= budget, f"the image is {size:,} bytes, over its budget of {budget:,} (tools/image-budget)"


def test_image_holds_only_the_static_binary(image, tmp_path: Path) -> None:
    files = image_files(image_ref(), tmp_path)
    non_dirs = {path for path, entry in files.items() if not entry.isdir()}
    assert non_dirs == {"epoch"}, f"the image should hold only /epoch, it holds {sorted(non_dirs)}"
    epoch = files["epoch"]
    assert epoch.isreg() and epoch.mode & 0o111, "/epoch must be an executable regular file"
    assert epoch.uid == 0 and not epoch.mode & 0o022, "/epoch must not be writable by the runtime user"
    # the binary itself: static (FROM scratch has no loader), so `file` says so
    podman("create", "--name", f"epoch-extract-{os.getpid()}", image_ref())
    try:
        podman("cp", f"epoch-extract-{os.getpid()}:/epoch", str(tmp_path / "epoch"))
    finally:
        podman("rm", f"epoch-extract-{os.getpid()}", check=False)
    kind = run(["file", "-b", str(tmp_path / "epoch")]).stdout
    assert "statically linked" in kind or "static-pie linked" in kind, kind


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/busybox", "sh"])
def test_image_has_no_shell(image, shell: str) -> None:
    proc = podman("run", "--rm", "--entrypoint", shell, image_ref(), "-c", "true", check=False, timeout=60)
    assert proc.returncode != 0, f"{shell} ran inside the image"
    assert "no such file" in proc.stderr.lower() or "not found" in proc.stderr.lower(), proc.stderr


def test_make_run_replaces_an_existing_container(container) -> None:
    assert container["info"]["Id"] != container["first_id"], "the second run should create a new container"
    assert podman("container", "exists", container["first_id"], check=False).returncode != 0
    out = container["outputs"][1]
    assert f"http://127.0.0.1:{container['port']}/" in out, out  # prints the URL ...
    assert "stop" in out                                            # ... and how to stop it


def test_container_is_really_running(container) -> None:
    state = inspect("container", container["name"])["State"]
    assert state["Running"] is True and state["Status"] == "running", state
    assert state["Pid"] > 0
    assert Path(f"/proc/{state['Pid']}").exists()


def test_container_is_hardened_in_its_config(container) -> None:
    info = container["info"]
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"], "no capability dropped"  # podman lists the defaults --cap-drop=ALL removed
    assert not info.get("EffectiveCaps"), info.get("EffectiveCaps")
    assert any("no-new-privileges" in opt for opt in host.get("SecurityOpt") or []), host.get("SecurityOpt")
    bindings = host["PortBindings"]["8080/tcp"]
    assert [(b["HostIp"], b["HostPort"]) for b in bindings] == [("127.0.0.1", str(container["port"]))]


def test_process_runs_as_65532_without_capabilities_on_a_read_only_root(container) -> None:
    pid = inspect("container", container["name"])["State"]["Pid"]
    status = proc_status(pid)
    assert status["Name"] == "epoch", status["Name"]
    assert status["Uid"].split() == [str(NONROOT)] * 4, status["Uid"]
    assert status["Gid"].split() == [str(NONROOT)] * 4, status["Gid"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, f"{cap} = {status[cap]}"
    assert status["NoNewPrivs"] == "1"
    assert "ro" in root_mount_options(pid), root_mount_options(pid)


def test_get_root_through_the_published_port(container) -> None:
    base = f"http://127.0.0.1:{container['port']}"
    wait_for_http(base + "/", timeout=10)
    status, headers, raw = http_get(base + "/")
    body = raw.decode()
    assert status == 200 and headers["content-type"].split(";")[0] == "application/json", (status, headers)
    assert EPOCH_JSON_RE.match(body), body
    assert f'"rev":"{git_short_rev()}"' in body, f"served rev should be the checkout's {git_short_rev()}: {body}"
    wait_for_http(base + "/healthz", timeout=5)  # each raises unless it answers 200
    wait_for_http(base + "/readyz", timeout=5)


def test_stop_drains_and_exits_zero(container) -> None:
    """podman stop sends SIGTERM: /readyz turns 503 while the server keeps answering through the
    shutdown delay, then the process exits 0 by itself (killed at the timeout it would exit 137)."""
    name, port = container["name"], container["port"]
    seen: list[object] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(http_get(f"http://127.0.0.1:{port}/readyz", timeout=1)[0])
            except OSError:
                seen.append("refused")
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.3)
    proc = podman("stop", "--time", "20", name, check=False, timeout=60)
    stop.set()
    watcher.join(5)
    assert proc.returncode == 0, proc.stderr
    state = inspect("container", name)["State"]
    assert state["Running"] is False
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} (137 = killed at the stop timeout)"
    assert seen and seen[0] == 200, seen[:5]
    assert 503 in seen, f"/readyz never answered 503 during the drain: {seen}"
    if "refused" in seen:  # draining (503) comes before the listener closes
        assert seen.index(503) < seen.index("refused"), seen
    assert not port_open(port)


def test_hadolint_passes_at_warning_level() -> None:
    hadolint = REPO_ROOT / ".venv" / "bin" / "hadolint"
    assert hadolint.exists() or shutil.which("hadolint"), "hadolint missing: make deps"
    run([str(hadolint if hadolint.exists() else "hadolint"), "--failure-threshold", "warning",
         str(REPO_ROOT / "Dockerfile")])


@pytest.fixture(scope="module")
def stand_in_swift(tmp_path_factory, image):
    """Two stand-ins for swift:6.3-noble: one 'compiling' the static release binary, one a dynamic one."""
    release = REPO_ROOT / ".build" / "release" / "epoch"
    assert release.exists(), "make release first"
    tags = {"static": f"localhost/epoch-test-swift-static:{os.getpid()}",
            "dynamic": f"localhost/epoch-test-swift-dynamic:{os.getpid()}"}
    build_stand_in_swift_image(tags["static"], tmp_path_factory.mktemp("static-swift"), release)
    build_stand_in_swift_image(tags["dynamic"], tmp_path_factory.mktemp("dynamic-swift"),
                               Path(shutil.which("bash")).resolve())
    try:
        yield tags
    finally:
        for tag in tags.values():
            podman("rmi", "--force", tag, check=False)


def full_build(base: str, name: str, **extra: str) -> subprocess.CompletedProcess:
    """scripts/image-build full (what `make build` runs) on a stand-in base image; no layers kept."""
    env = engine_env({"SWIFT_IMAGE": base, "IMAGE": name, "REV": rev(), "BUILDAH_LAYERS": "false", **extra})
    return run([str(REPO_ROOT / "scripts" / "image-build"), "full"], env=env, check=False, timeout=300)


@pytest.mark.parametrize("sdk", ["glibc", "musl"])
def test_dockerfile_build_stage_runs_with_a_stand_in_compiler(stand_in_swift, tmp_path: Path, sdk: str) -> None:
    """The full multi-stage build (make build) cannot run here (no swift:6.3-noble), so its build stage
    runs on a stand-in base whose `swift` copies the release binary: resolution layer, SDK choice, rev
    passed as EPOCH_REV, bin path, strip, static check and the runtime stage all run as written."""
    name = f"localhost/epoch-test-fullbuild-{sdk}"
    extra = {"SWIFT_SDK_URL": "https://example.invalid/static-linux.artifactbundle.tar.gz",
             "SWIFT_SDK_CHECKSUM": "0" * 64} if sdk == "musl" else {}
    try:
        proc = full_build(stand_in_swift["static"], name, **extra)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "fake-swift: package resolve" in out
        want = "--swift-sdk x86_64-swift-linux-musl" if sdk == "musl" else "-Xswiftc -static-executable"
        # make release's flags too, from the one list (tools/release-swift-flags).
        flags = (REPO_ROOT / "tools" / "release-swift-flags").read_text().splitlines()
        want += "".join(f" {flag}" for flag in flags if flag and not flag.startswith("#"))
        assert f"fake-swift: build -c release --product epoch {want} (EPOCH_REV={rev()})" in out, out
        files = image_files(f"{name}:{rev()}", tmp_path)
        assert {p for p, e in files.items() if not e.isdir()} == {"epoch"}
        labels = inspect("image", f"{name}:{rev()}")["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == rev()
    finally:
        podman("rmi", "--force", f"{name}:{rev()}", f"{name}:latest", check=False)


def test_dockerfile_build_stage_rejects_a_dynamic_binary(stand_in_swift) -> None:
    name = "localhost/epoch-test-fullbuild-dynamic"
    try:
        proc = full_build(stand_in_swift["dynamic"], name)
        assert proc.returncode != 0, "a dynamically linked binary reached the scratch image"
        assert "/rootfs/epoch is not static" in proc.stdout + proc.stderr
    finally:
        podman("rmi", "--force", f"{name}:{rev()}", f"{name}:latest", check=False)
