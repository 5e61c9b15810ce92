"""`epoch serve --ntp-port` measured by real NTP clients: chrony 4.3 (`chronyd -Q`, which measures
and never sets the clock) and, where this test may bind port 123, ntpsec's ntpdig.

This machine's kernel clock is not disciplined (TIME_ERROR, STA_UNSYNC, maxerror 16 s), so the
server answers leap 3 (alarm), stratum 16 and the kernel's 16 s as root dispersion unless started
with --ntp-serve-unsynchronized (leap 0, root dispersion 1 s): the alarm tests are the controls of
the offset tests, differing only in that flag."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness.http import http_get
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.ntp  # make ntp-test

CHRONY_OFFSET_RE = re.compile(r"System clock wrong by (-?[0-9.]+) seconds")
NTPDIG_RE = re.compile(r"^\S+ \S+ \([+-]\d+\) ([+-][0-9.]+) \+/- ([0-9.]+) (\S+) s(\d+) (\S+)", re.M)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chronyd_measure(port: int, workdir: Path, timeout_s: int = 20) -> tuple[float | None, str]:
    """Runs chronyd in measure-only mode (-Q: never -q, never without -Q) against 127.0.0.1:port;
    returns (offset in seconds, positive when the server is ahead; or None, chrony's log)."""
    chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
    log = workdir / "chronyd.log"
    command = [
        chronyd, "-Q", "-u", "root", "-t", str(timeout_s), "-f", "/dev/null", "-l", str(log),
        f"server 127.0.0.1 port {port} iburst maxsamples 4",
        f"pidfile {workdir / 'chronyd.pid'}",
        f"driftfile {workdir / 'chronyd.drift'}",
    ]
    assert command[1] == "-Q", "chronyd must only ever run with -Q"
    print("running:", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s + 15)
    text = (log.read_text() if log.exists() else "") + done.stdout + done.stderr
    match = CHRONY_OFFSET_RE.search(text)
    return (float(match.group(1)) if match else None), text


@pytest.fixture
def ntp_server(epoch_server):
    def start(*args: str):
        port = free_udp_port()
        server = epoch_server("--ntp-port", str(port), *args)
        return server, port

    return start


@pytest.mark.parametrize("skew, expected", [("0s", 0.0), ("1500ms", 1.5)])
def test_chrony_measures_the_served_offset_within_1ms(ntp_server, tmp_path, skew, expected):
    server, port = ntp_server("--ntp-serve-unsynchronized", "--clock-skew", skew)
    offset, log = chronyd_measure(port, tmp_path)
    print(log)
    assert offset is not None, f"chronyd measured nothing:\n{log}"
    print(f"chrony: server offset {offset:+.6f} s, expected {expected:+.6f} s (error {abs(offset - expected) * 1e6:.0f} us)")
    assert abs(offset - expected) < 0.001
    metrics = server_metrics(server)
    assert re.search(r'^epoch_ntp_replies_total\{leap="none"\} [1-9]', metrics, re.M)


def test_chrony_refuses_the_source_when_we_answer_alarm(ntp_server, tmp_path):
    """The control: the same server and client without --ntp-serve-unsynchronized."""
    server, port = ntp_server("--clock-skew", "1500ms")
    offset, log = chronyd_measure(port, tmp_path, timeout_s=12)
    print(log)
    assert offset is None, f"chrony used an alarm source:\n{log}"
    assert re.search(r'^epoch_ntp_replies_total\{leap="alarm"\} [1-9]', server_metrics(server), re.M), \
        "chrony got no answer at all, so its refusal proves nothing"


def test_control_and_private_modes_get_no_answer(ntp_server):
    server, port = ntp_server("--ntp-serve-unsynchronized")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for first_byte in (0x16, 0x17, 0x26, 0x27):  # NTPv2/v4 mode 6 (ntpq) and 7 (ntpdc monlist)
            sock.sendto(bytes([first_byte]) + bytes(47), ("127.0.0.1", port))
            with pytest.raises(socket.timeout):
                sock.recvfrom(2048)
        sock.sendto(b"\x23" + bytes(40) + b"\x01" * 7, ("127.0.0.1", port))
        reply, _ = sock.recvfrom(2048)
        assert len(reply) == 48 and reply[0] & 7 == 4
    metrics = server_metrics(server)
    assert 'epoch_ntp_dropped_packets_total{reason="control_mode"} 2' in metrics
    assert 'epoch_ntp_dropped_packets_total{reason="private_mode"} 2' in metrics


def can_bind_123() -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 123))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not shutil.which("ntpdig"), reason="ntpdig is missing (tools/apt/time.txt)")
@pytest.mark.skipif(not can_bind_123(), reason="port 123 cannot be bound here (ntpdig queries only 123)")
@pytest.mark.parametrize("flag, usable", [("--ntp-serve-unsynchronized", True), (None, False)])
def test_ntpdig_measures_the_skew(epoch_server, flag, usable):
    """ntpdig against port 123 with a 1.5 s skew; the control (no flag) is an alarm it refuses."""
    epoch_server("--ntp-port", "123", "--clock-skew", "1500ms", *([flag] if flag else []))
    done = subprocess.run(["ntpdig", "-t", "2", "127.0.0.1"], capture_output=True, text=True, timeout=20)
    print(done.stdout, done.stderr)
    match = NTPDIG_RE.search(done.stdout)
    if usable:
        assert match, done.stdout + done.stderr
        assert abs(float(match.group(1)) - 1.5) < 0.001
    else:
        assert done.returncode != 0 and not match
        assert "no eligible servers" in done.stdout + done.stderr


def server_metrics(server) -> str:
    status, _, body = http_get(server.url + "/metrics")
    assert status == 200
    return body.decode()


def test_the_ntp_component_adds_a_udp_port_to_an_overlay(tmp_path):
    """The kustomize Component renders into the staging overlay: container port, Service port and
    NetworkPolicy rule for UDP; the control is the overlay without it, which has no NTP port at all."""
    import yaml

    kubectl = REPO_ROOT / ".venv" / "bin" / "kubectl"
    work = REPO_ROOT / ".build-ntp-component"
    work.mkdir(exist_ok=True)

    def render(components: list[str]) -> list[dict]:
        (work / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["../deploy/k8s/overlays/staging"], "components": components,
        }))
        done = subprocess.run([str(kubectl), "kustomize", str(work)], capture_output=True, text=True, check=True,
                              env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin"})
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    def udp(docs: list[dict]) -> dict[str, object]:
        """The app's NTP ports: other components (Roughtime) add UDP ports of their own."""
        found: dict[str, object] = {"container": [], "service": [], "policy": [], "env": None}
        for doc in docs:
            if doc["kind"] == "Deployment":
                container = doc["spec"]["template"]["spec"]["containers"][0]
                found["container"] += [p for p in container["ports"] if p["protocol"] == "UDP" and p["name"] == "ntp"]
                found["env"] = {e["name"]: e.get("value") for e in container["env"]}.get("EPOCH_NTP_PORT")
            if doc["kind"] == "Service":
                found["service"] += [p for p in doc["spec"]["ports"] if p["protocol"] == "UDP" and p["name"] == "ntp"]
            if doc["kind"] == "NetworkPolicy" and doc["metadata"]["name"].startswith("epoch"):
                found["policy"] += [p for rule in doc["spec"]["ingress"] for p in rule["ports"]
                                    if p["protocol"] == "UDP" and p["port"] == "ntp"]
        return found

    with_ntp = udp(render(["../deploy/k8s/components/ntp"]))
    assert with_ntp["container"] == [{"name": "ntp", "containerPort": 1123, "protocol": "UDP"}]
    assert with_ntp["env"] == "1123"
    assert with_ntp["service"] == [{"name": "ntp", "port": 123, "targetPort": "ntp", "protocol": "UDP"}]
    assert with_ntp["policy"] == [{"port": "ntp", "protocol": "UDP"}]
    without = udp(render([]))
    assert not without["container"] and not without["service"] and not without["policy"] and without["env"] is None


@pytest.mark.parametrize("args, env, message", [
    (["--ntp-port", "70000"], {}, "--ntp-port 70000 is invalid"),
    ([], {"EPOCH_NTP_PORT": "ntp"}, "EPOCH_NTP_PORT=ntp is invalid"),
    (["--ntp-port", "1123", "--ntp-stratum", "1"], {}, "--ntp-stratum 1 is invalid"),
])
def test_bad_ntp_settings_are_one_line_and_exit_2(release_binary, args, env, message):
    import os

    done = subprocess.run([str(release_binary), "serve", "--port", "0", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=10)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr


def test_a_busy_ntp_port_is_one_line_and_exit_1(release_binary):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(release_binary), "serve", "--host", "127.0.0.1", "--port", "0", "--ntp-port", str(port),
             "--log-level", "critical"], capture_output=True, text=True, timeout=15)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot serve NTP on 127.0.0.1:{port}" in lines[0], done.stderr


def test_the_ntp_port_comes_from_the_environment_too(epoch_server):
    port = free_udp_port()
    epoch_server(env={"EPOCH_NTP_PORT": str(port), "EPOCH_NTP_SERVE_UNSYNCHRONIZED": "1"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\x23" + bytes(40) + b"\x01" * 7, ("127.0.0.1", port))
        reply, _ = sock.recvfrom(2048)
    assert len(reply) == 48 and reply[0] >> 6 == 0  # leap 0: the env flag took effect too
