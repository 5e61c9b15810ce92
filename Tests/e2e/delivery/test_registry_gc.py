"""Registry garbage collection and image indexes (distribution#3004), with Debian's docker-registry
(distribution 2.8), the registry deploy/registry runs: release.yml pushes every image as an index
(the image plus its SBOM and provenance), and a Deployment runs the index's digest. After the tag
moves on, `garbage-collect --delete-untagged` deletes the manifests only the index references, and
the running digest can no longer be pulled; plain `garbage-collect` (what deploy/registry/compose.yaml
runs) keeps them. The registry listens on loopback, over plain HTTP, on a storage directory of the test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from harness.paths import REPO_ROOT
from harness.ports import free_port

pytestmark = pytest.mark.registry_gc  # make registry-gc-test

REPO = REPO_ROOT
REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")


def blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def index_layout(layout: Path, marker: str) -> tuple[str, str]:
    """An OCI layout holding one index (tag `release`) that references one image manifest; returns
    (index digest, manifest digest)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        data = marker.encode()
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    layer = blob(layout, gzip.compress(tar.getvalue(), mtime=0))
    diff_id = "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()
    config = blob(layout, json.dumps({"architecture": "amd64", "os": "linux",
                                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode())
    manifest = blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    index = blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
                           platform={"architecture": "amd64", "os": "linux"})]}).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [dict(
        index, mediaType="application/vnd.oci.image.index.v1+json",
        annotations={"org.opencontainers.image.ref.name": "release"})]}))
    return index["digest"], manifest["digest"]


class Registry:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.storage = tmp / "storage"
        self.config = tmp / "config.yml"
        self.config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"}}))
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.skopeo("inspect", "--raw", f"docker://127.0.0.1:{self.port}/none:none").returncode == 0 or \
                    subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{self.port}"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def skopeo(self, *args: str) -> subprocess.CompletedProcess:
        tls = ["--tls-verify=false"] if args[0] in ("inspect", "delete") else ["--dest-tls-verify=false"]
        return subprocess.run([SKOPEO, args[0], *tls, *args[1:]], capture_output=True, text=True, timeout=60)

    def manifest(self, reference: str) -> subprocess.CompletedProcess:
        return self.skopeo("inspect", "--raw", f"docker://127.0.0.1:{self.port}/swift-microepoch@{reference}")

    def gc(self, *flags: str) -> None:
        subprocess.run([REGISTRY, "garbage-collect", *flags, str(self.config)], check=True, capture_output=True, timeout=60)


def compose_gc_flags() -> list[str]:
    command = yaml.safe_load((REPO / "deploy" / "registry" / "compose.yaml").read_text())["services"]["garbage-collect"]["command"]
    assert command[0] == "garbage-collect"
    return command[1:-1]


@pytest.mark.parametrize("flags, survives", [("compose", True), (["--delete-untagged"], False)], ids=["compose-gc", "delete-untagged"])
def test_gc_keeps_the_manifests_of_a_running_index(tmp_path: Path, flags, survives: bool) -> None:
    assert REGISTRY and SKOPEO, "docker-registry and skopeo are missing: make deps installs them (tools/apt)"
    flags = compose_gc_flags() if flags == "compose" else flags
    registry = Registry(tmp_path)
    old_index, old_manifest = index_layout(tmp_path / "old", "release 1")
    new_index, _ = index_layout(tmp_path / "new", "release 2")
    registry.start()
    try:
        for layout in ("old", "new"):  # the branch tag moves from release 1 to release 2
            pushed = registry.skopeo("copy", "--all", f"oci:{tmp_path / layout}:release",
                                     f"docker://127.0.0.1:{registry.port}/swift-microepoch:main")
            assert pushed.returncode == 0, pushed.stderr
        assert registry.manifest(old_manifest).returncode == 0
    finally:
        registry.stop()
    registry.gc(*flags)  # with the registry stopped, as docs/container.md says
    registry.start()
    try:
        index = registry.manifest(old_index)
        image = registry.manifest(old_manifest)
        assert registry.manifest(new_index).returncode == 0, "the tagged index always survives"
    finally:
        registry.stop()
    if survives:
        # The old index is untagged now, but a Deployment may still run its digest (a rollback target).
        assert image.returncode == 0, f"garbage-collect {flags} deleted a manifest the running index needs: {image.stderr}"
    else:
        # distribution#3004: the control must show the bug, or the test proves nothing.
        assert index.returncode != 0 or image.returncode != 0, "--delete-untagged kept an untagged index's manifests"
