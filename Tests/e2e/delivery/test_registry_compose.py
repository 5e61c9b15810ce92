"""The production registry's compose file (deploy/registry/compose.yaml): valid against the Compose
Specification's JSON schema (check-jsonschema's vendored `vendor.compose-spec`; no docker compose
here), started in order with health conditions, no bind mount Docker could replace with an empty
directory, the registry as uid 65532 with no capability on a volume it owns, garbage collection, and
nginx reloaded when the certificate changes. The two start-up scripts run for real here, under sh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from harness.paths import REPO_ROOT as REPO

pytestmark = pytest.mark.release_pipeline  # make release-pipeline-test

REGISTRY_DIR = REPO / "deploy" / "registry"
COMPOSE = REGISTRY_DIR / "compose.yaml"
CHECK_JSONSCHEMA = REPO / ".venv" / "bin" / "check-jsonschema"
BCRYPT_LINE = "ci:$2y$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True)


def test_compose_file_is_valid_compose_spec() -> None:
    proc = schema_check(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    """Control: a misspelled key and a wrong depends_on condition are refused."""
    for change in (lambda c: c["services"]["registry"].update(healtcheck=c["services"]["registry"].pop("healthcheck")),
                   lambda c: c["services"]["nginx"]["depends_on"]["registry"].update(condition="service_ready")):
        doc = compose()
        change(doc)
        bad = tmp_path / "compose.yaml"
        bad.write_text(yaml.safe_dump(doc))
        assert schema_check(bad).returncode != 0


def test_start_order_waits_for_health() -> None:
    services = compose()["services"]
    assert services["registry"]["depends_on"] == {"registry-init": {"condition": "service_completed_successfully"}}
    assert services["nginx"]["depends_on"] == {"registry": {"condition": "service_healthy"}}
    check = services["registry"]["healthcheck"]
    assert check["test"][0] == "CMD" and "http://127.0.0.1:5000/" in check["test"]
    assert services["registry-init"]["restart"] == "no"


def test_no_bind_mount_can_become_an_empty_directory() -> None:
    for name, service in compose()["services"].items():
        for mount in service.get("volumes", []):
            assert isinstance(mount, dict), f"{name}: short syntax {mount!r} lets Docker create a missing path"
            if mount["type"] == "bind":
                assert mount["bind"]["create_host_path"] is False, f"{name}: {mount['source']}"
                assert mount.get("read_only") is True, f"{name}: {mount['source']} is writable"


def test_registry_runs_unprivileged_on_a_volume_it_owns() -> None:
    services = compose()["services"]
    registry, init = services["registry"], services["registry-init"]
    assert registry["user"] == "65532:65532" and registry["cap_drop"] == ["ALL"] and "cap_add" not in registry
    assert registry["read_only"] is True and "no-new-privileges:true" in registry["security_opt"]
    assert init["cap_drop"] == ["ALL"] and init["cap_add"] == ["CHOWN"], "init may chown and nothing else"
    assert init["environment"]["REGISTRY_UID"] == registry["user"].split(":")[0]
    assert "ports" not in registry and "ports" not in init


def test_garbage_collection_is_enabled_and_runnable() -> None:
    config = yaml.safe_load((REGISTRY_DIR / "config.yml").read_text())
    assert config["storage"]["delete"]["enabled"] is True
    gc = compose()["services"]["garbage-collect"]
    assert gc["profiles"] == ["maintenance"], "never started by `up`"
    assert gc["command"][:1] == ["garbage-collect"] and gc["command"][-1] == "/etc/docker/registry/config.yml"
    assert {m["target"] for m in gc["volumes"]} == {m["target"] for m in compose()["services"]["registry"]["volumes"]
                                                    if m["target"] != "/auth/htpasswd"}


# ------------------------------------------------------------------------------------------------
# registry-init.sh, run here as the init container would run it
# ------------------------------------------------------------------------------------------------
def run_init(tmp_path: Path, htpasswd: Path) -> subprocess.CompletedProcess:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "REGISTRY_UID": "65532", "REGISTRY_DATA": str(data), "REGISTRY_HTPASSWD": str(htpasswd)}
    return subprocess.run(["sh", str(REGISTRY_DIR / "registry-init.sh")], env=env, capture_output=True, text=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root, as in the init container")
def test_init_accepts_a_readable_htpasswd_and_chowns_the_volume(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(BCRYPT_LINE)
    os.chown(htpasswd, 0, 65532)
    htpasswd.chmod(0o640)
    proc = run_init(tmp_path, htpasswd)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data").stat().st_uid == 65532


@pytest.mark.parametrize("case, message", [
    ("missing", "is missing"),
    ("directory", "is a directory"),
    ("empty", "is empty"),
    ("md5", "no bcrypt entry"),
    ("private", "not readable by uid 65532"),
])
def test_init_fails_with_one_readable_line(tmp_path: Path, case: str, message: str) -> None:
    htpasswd = tmp_path / "htpasswd"
    if case == "directory":
        htpasswd.mkdir()  # what Docker makes of a missing bind source with the short syntax
    elif case == "empty":
        htpasswd.write_text("")
    elif case == "md5":
        htpasswd.write_text("ci:$apr1$abc$def\n")
    elif case == "private":
        htpasswd.write_text(BCRYPT_LINE)
        htpasswd.chmod(0o600)
    proc = run_init(tmp_path, htpasswd)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert (tmp_path / "data").stat().st_uid != 65532 or os.geteuid() != 0, "nothing chowned after a failure"


# ------------------------------------------------------------------------------------------------
# reload-on-renewal.sh, with a recording nginx
# ------------------------------------------------------------------------------------------------
def test_nginx_is_reloaded_when_the_certificate_changes(tmp_path: Path) -> None:
    cert, calls = tmp_path / "fullchain.pem", tmp_path / "nginx.calls"
    cert.write_text("old\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "nginx"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "REGISTRY_TLS_CERT": str(cert), "RELOAD_CHECK_SECONDS": "0.2"}
    log = tmp_path / "hook.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["sh", str(REGISTRY_DIR / "reload-on-renewal.sh")], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert proc.wait(timeout=10) == 0, "the hook returns at once; its watcher goes on"
        assert "watching" in log.read_text()
        time.sleep(0.6)
        assert not calls.exists(), "no reload while the certificate is unchanged (control)"
        new_time = cert.stat().st_mtime + 5
        cert.write_text("renewed\n")
        os.utime(cert, (new_time, new_time))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not calls.exists():
            time.sleep(0.1)
        assert calls.read_text().splitlines() == ["-s reload"]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the process group this test started: the watcher
        except ProcessLookupError:
            pass


def test_start_up_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "make deps installs shellcheck"
    for script in ("registry-init.sh", "reload-on-renewal.sh"):
        proc = subprocess.run([shellcheck, str(REGISTRY_DIR / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
