"""Helpers for test_container.py and test_registry.py: podman with the project's conf, the image under
test, ports, HTTP, and what the kernel says about a running process."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tarfile
from pathlib import Path

from harness import commands
from harness.paths import REPO_ROOT
from harness.servers import git_short_rev

NONROOT = 65532


def rev() -> str:
    """The rev the image is tagged with: REV from make (mk/container.mk), else the checkout's."""
    return os.environ.get("REV") or git_short_rev()


def image_name() -> str:
    return os.environ.get("IMAGE") or "localhost/swift-microepoch"


def image_ref() -> str:
    return f"{image_name()}:{rev()}"


def engine_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "deploy" / "containers.conf"))
    env.update(extra or {})
    return env


def run(cmd: list[str], *, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    """support.run with the engine's environment (the project's containers.conf) by default."""
    return commands.run(cmd, env=env or engine_env(), **options)


def podman(*args: str, check: bool = True, timeout: float = 180, store: list[str] | None = None,
           env: dict | None = None) -> subprocess.CompletedProcess:
    return run(["podman", *(store or []), *args], check=check, timeout=timeout, env=env)


def inspect(kind: str, name: str, store: list[str] | None = None) -> dict:
    out = podman(kind, "inspect", name, store=store).stdout
    return json.loads(out)[0]


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict (the kernel's view of the process: ids, capabilities, no_new_privs)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def root_mount_options(pid: int) -> set[str]:
    """Mount options of the process's own root filesystem (/proc/PID/mountinfo, mount point '/')."""
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        parts = line.split()
        if parts[4] == "/":
            return set(parts[5].split(","))
    raise AssertionError(f"no '/' mount in /proc/{pid}/mountinfo")


def image_files(ref: str, workdir: Path, store: list[str] | None = None) -> dict[str, tarfile.TarInfo]:
    """Every entry of every layer of the image (podman save as docker-archive), by path."""
    archive = workdir / "image.tar"
    podman("save", "--format", "docker-archive", "-o", str(archive), ref, store=store)
    entries: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for member in inner.getmembers():
                    entries[member.name.removeprefix("./").rstrip("/")] = member
    archive.unlink()
    return entries


def listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    """The TCP (v4 and v6) addresses the given processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            if v6:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, words)
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            found.add((addr, int(port_hex, 16)))
    return found


FAKE_SWIFT = r'''#!/bin/bash
# Stand-in for `swift` in the Dockerfile's build stage: the plumbing runs for real, the compiler does not.
echo "fake-swift: $* (EPOCH_REV=${EPOCH_REV-<unset>})" >&2
case "$1 $2" in
  "package resolve") [[ -f Package.swift ]] || exit 1; mkdir -p .build/checkouts ;;
  "sdk list") [[ -f /opt/sdk-installed ]] && echo "swift-6.3-RELEASE_static-linux-0.0.1"; exit 0 ;;
  "sdk install") : > /opt/sdk-installed ;;
  build*)
    triple=x86_64-unknown-linux-gnu prev=
    for a in "$@"; do [[ $prev == --swift-sdk ]] && triple=$a; prev=$a; done
    dir=/src/.build/$triple/release
    if [[ " $* " == *" --show-bin-path "* ]]; then echo "$dir"; exit 0; fi
    [[ -f Package.swift && -d Sources ]] || { echo "fake-swift: no sources in $PWD" >&2; exit 1; }
    mkdir -p "$dir" && cp /opt/compiled-epoch "$dir/epoch" ;;
  *) echo "fake-swift: unexpected: $*" >&2; exit 1 ;;
esac
'''
STAND_IN_TOOLS = ["bash", "dash", "strip", "ldd", "mkdir", "ls", "grep", "cat", "cp", "env", "dirname", "sed",
                  "rm", "head"]


def build_stand_in_swift_image(tag: str, workdir: Path, compiled: Path) -> None:
    """A tiny base image standing in for swift:6.3-noble (no network, no base image here): the host's
    bash, coreutils, binutils' strip and glibc's ldd, plus FAKE_SWIFT, which 'compiles' by copying
    `compiled`. Enough to run the Dockerfile's build stage exactly as written."""
    import shutil as _shutil
    root = workdir / "rootfs"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "opt").mkdir()
    (root / "tmp").mkdir()
    (root / "bin").symlink_to("usr/bin")
    for tool in STAND_IN_TOOLS:
        src = Path(_shutil.which(tool) or f"/usr/bin/{tool}").resolve()
        _shutil.copy2(src, root / "usr" / "bin" / tool)
        libs = subprocess.run(["ldd", str(src)], capture_output=True, text=True).stdout
        for lib in re.findall(r"(/\S+)", libs):
            dest = root / lib.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            _shutil.copy2(Path(lib).resolve(), dest)
    (root / "usr" / "bin" / "sh").symlink_to("dash")
    swift = root / "usr" / "bin" / "swift"
    swift.write_text(FAKE_SWIFT)
    swift.chmod(0o755)
    _shutil.copy2(compiled, root / "opt" / "compiled-epoch")
    archive = workdir / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    podman("import", str(archive), tag)
    archive.unlink()
    _shutil.rmtree(root)
