"""Network Time Security (RFC 8915) of `epoch serve --nts-ke-port`, measured by chrony 4.3
(`chronyd -Q`, which measures and never sets the clock) and driven by the tests' own NTS client
(harness/nts_client.py: pyOpenSSL's exporter, the `cryptography` package's AES-SIV).

Every proof has a control that must give no measurement: a CA chrony does not trust, a proxy that
flips one byte of each reply's authenticator, and a server whose exporter context is wrong (the
hidden --testing-nts-wrong-exporter-context). The machine's kernel clock is undisciplined, so every
server runs with --ntp-serve-unsynchronized (test_ntp.py's alarm test is that flag's control)."""
from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.certificates import make_tls_files
from harness.http import http_get
from harness.nts_client import (AUTHENTICATOR, CHRONY_KE_REQUEST, COOKIE, PLACEHOLDER, UID, field_bytes,
                                key_exchange, ntp_fields, ntp_request, records, verify_reply)
from harness.polling import wait_until
from harness.ports import free_port

pytestmark = pytest.mark.nts  # make nts-test

CHRONY_OFFSET_RE = re.compile(r"System clock wrong by (-?[0-9.]+) seconds")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric(server, name: str, **labels: str) -> float:
    status, _, body = http_get(server.url + "/metrics")
    assert status == 200
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(selector)}\}} ([0-9.e+]+)$", body.decode(), re.M)
    assert match, f"{name}{{{selector}}} missing"
    return float(match.group(1))


def series(server, name: str) -> dict[str, float]:
    """Every series of `name`, by its one label's value."""
    body = http_get(server.url + "/metrics")[2].decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf'^{name}\{{\w+="([^"]+)"\}} ([0-9.e+]+)$', body, re.M)}


@pytest.fixture
def nts_files(tmp_path, release_binary):
    """A CA, a certificate for 127.0.0.1 and a cookie key made by `epoch nts keygen`."""
    ca, cert, key = make_tls_files(tmp_path / "tls")
    cookie_key = tmp_path / "cookie.key"
    done = subprocess.run([str(release_binary), "nts", "keygen", str(cookie_key)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {"ca": ca, "cert": cert, "key": key, "cookie_key": cookie_key}


@pytest.fixture
def nts_server(epoch_server, nts_files):
    def start(*args: str):
        ntp, ke = free_udp_port(), free_port()
        server = epoch_server(
            "--ntp-port", str(ntp), "--ntp-serve-unsynchronized", "--nts-ke-port", str(ke),
            "--nts-cert", str(nts_files["cert"]), "--nts-key", str(nts_files["key"]),
            "--nts-cookie-key", str(nts_files["cookie_key"]), *args)
        return server, ntp, ke

    return start


@dataclass
class ChronyRun:
    offset: float | None
    log: str
    # rawmeasurements.log: one row a packet received; "tests" is RFC 5905 tests 5-7 as chrony logs
    # them, where test 5 is authentication (1: the NTS authenticator verified).
    samples: list[dict[str, str]]
    # chrony's NTS dump (ntsdumpdir): written only after an NTS-KE that gave keys and cookies.
    ke_aead: int | None
    ke_cookies: int


def chronyd_measure(ntp_port: int, ke_port: int, ca: Path, workdir: Path, timeout_s: int = 20) -> ChronyRun:
    """chronyd -Q (measure only: never -q, never without -Q) with an NTS source."""
    chronyd = shutil.which("chronyd") or "/usr/sbin/chronyd"
    log, logdir = workdir / "chronyd.log", workdir / "chrony-logs"
    logdir.mkdir(exist_ok=True)
    command = [
        chronyd, "-Q", "-u", "root", "-t", str(timeout_s), "-f", "/dev/null", "-l", str(log),
        f"server 127.0.0.1 port {ntp_port} iburst nts ntsport {ke_port} maxsamples 4",
        f"ntstrustedcerts {ca}", "nosystemcert", f"ntsdumpdir {workdir}",
        f"logdir {logdir}", "log rawmeasurements",
        f"pidfile {workdir / 'chronyd.pid'}", f"driftfile {workdir / 'chronyd.drift'}",
    ]
    assert command[1] == "-Q", "chronyd must only ever run with -Q"
    print("running:", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s + 15)
    text = (log.read_text() if log.exists() else "") + done.stdout + done.stderr
    match = CHRONY_OFFSET_RE.search(text)
    samples = []
    measurements = logdir / "measurements.log"
    for line in (measurements.read_text().splitlines() if measurements.exists() else []):
        fields = line.split()
        if len(fields) > 8 and re.match(r"\d{4}-\d\d-\d\d$", fields[0]):
            samples.append({"ip": fields[2], "leap": fields[3], "tests": fields[6], "offset": fields[10]})
            text += "\nmeasurements.log: " + line
    # The dump holds the session's keys: it is read here, never printed.
    aead, cookies = None, 0
    dump = workdir / "127.0.0.1.nts"
    if dump.exists():
        lines = dump.read_text().splitlines()
        assert lines[0] == "NNC0", "not chrony 4.3's NTS dump format"
        context = lines[4].split()
        aead, cookies = int(context[1]), len(lines) - 5
        text += f"\nchrony's NTS dump: AEAD {aead}, {cookies} cookies (keys not shown)"
    return ChronyRun((float(match.group(1)) if match else None), text, samples, aead, cookies)


@pytest.mark.parametrize("skew, expected", [("0s", 0.0), ("1500ms", 1.5)])
def test_chrony_measures_through_nts_within_1ms(nts_server, nts_files, tmp_path, skew, expected):
    server, ntp, ke = nts_server("--clock-skew", skew)
    run = chronyd_measure(ntp, ke, nts_files["ca"], tmp_path)
    print(run.log)
    assert run.offset is not None, f"chronyd measured nothing:\n{run.log}"
    print(f"chrony over NTS: offset {run.offset:+.6f} s, expected {expected:+.6f} s")
    assert abs(run.offset - expected) < 0.001
    # chrony's own records: NTS-KE gave AEAD 15 and cookies; every sample passed test 5
    # (authentication); no NTS-KE or TLS error in its log.
    assert run.ke_aead == 15 and run.ke_cookies >= 1, run.log
    assert run.samples and all(sample["tests"][0] == "1" for sample in run.samples), run.log
    assert not re.search(r"NTS-KE.*(fail|error)|TLS.*(fail|error)", run.log, re.I), run.log
    # The server saw the same: an ok session, and every NTP reply it sent was sealed.
    assert series(server, "epoch_nts_ke_sessions_total")["ok"] >= 1
    requests = series(server, "epoch_ntp_nts_requests_total")
    assert requests["authenticated"] >= len(run.samples), requests
    assert metric(server, "epoch_ntp_replies_total", leap="none") == requests["authenticated"], \
        "a plain reply was sent: chrony measured something other than NTS"


def test_control_untrusted_ca(nts_server, tmp_path):
    other_ca, _, _ = make_tls_files(tmp_path / "other", common_name="other CA")
    server, ntp, ke = nts_server()
    run = chronyd_measure(ntp, ke, other_ca, tmp_path, timeout_s=10)
    print(run.log)
    assert run.offset is None, f"chrony measured through a certificate it must not trust:\n{run.log}"
    assert run.ke_aead is None and not run.samples, run.log
    assert series(server, "epoch_nts_ke_sessions_total")["tls_error"] >= 1
    assert series(server, "epoch_ntp_nts_requests_total")["authenticated"] == 0


class FlippingProxy(threading.Thread):
    """UDP between chrony and the server; flips one byte in each reply's authenticator ciphertext."""

    def __init__(self, upstream: int = 0):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.upstream = ("127.0.0.1", upstream)
        self.flipped = 0
        self.running = True

    def run(self) -> None:
        client = None
        self.sock.settimeout(0.2)
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if peer != self.upstream:
                client = peer
                self.sock.sendto(data, self.upstream)
            elif client:
                fields = ntp_fields(data)
                if fields and fields[-1][0] == AUTHENTICATOR:
                    data = bytearray(data)
                    data[len(data) - 5] ^= 0x01  # inside the sealed cookies
                    self.flipped += 1
                self.sock.sendto(bytes(data), client)


def test_control_flipped_authenticator_byte(nts_server, nts_files, tmp_path):
    proxy = FlippingProxy(upstream=0)
    # The KE response's Port record tells chrony where NTP is: the proxy.
    server, ntp, ke = nts_server("--nts-ntp-port", str(proxy.port))
    proxy.upstream = ("127.0.0.1", ntp)
    proxy.start()
    try:
        run = chronyd_measure(proxy.port, ke, nts_files["ca"], tmp_path, timeout_s=10)
    finally:
        proxy.running = False
        proxy.join()
    print(run.log)
    assert proxy.flipped >= 1, "no reply went through the proxy: the control proves nothing"
    assert run.offset is None, f"chrony accepted replies whose authenticator was altered:\n{run.log}"
    # chrony got keys, and failed test 5 (authentication) on every reply it logged.
    assert run.ke_aead == 15, run.log
    assert run.samples and all(sample["tests"][0] == "0" for sample in run.samples), run.log
    assert series(server, "epoch_ntp_nts_requests_total")["authenticated"] >= 1


def test_control_wrong_exporter_context(nts_server, nts_files, tmp_path):
    server, ntp, ke = nts_server("--testing-nts-wrong-exporter-context")
    run = chronyd_measure(ntp, ke, nts_files["ca"], tmp_path, timeout_s=10)
    print(run.log)
    assert run.offset is None, f"chrony measured with keys from a wrong exporter context:\n{run.log}"
    assert run.ke_aead == 15 and not any(sample["tests"][0] == "1" for sample in run.samples), run.log
    assert series(server, "epoch_nts_ke_sessions_total")["ok"] >= 1, "the KE must succeed for the control to count"
    assert series(server, "epoch_ntp_nts_requests_total")["bad_authenticator"] >= 1


def test_our_client_verifies_keys_cookies_and_replies(nts_server, nts_files):
    """An independent exporter (OpenSSL's) and AES-SIV: cookies work, replies verify, placeholders
    get cookies, GCM-SIV is chosen when offered, an unknown cookie gets an NTS NAK."""
    server, ntp, ke = nts_server()
    response, session = key_exchange(ke, nts_files["ca"])
    assert session is not None, records(response)
    assert session.aead == 15 and len(session.cookies) == 8 and session.port == ntp
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for placeholders in (0, 3):
            packet, uid = ntp_request(session, session.cookies.pop(), placeholders=placeholders)
            sock.sendto(packet, ("127.0.0.1", ntp))
            reply, _ = sock.recvfrom(4096)
            assert len(reply) <= len(packet)
            assert len(verify_reply(session, reply, uid)) == 1 + placeholders
        # An unknown cookie: NTS NAK (stratum 0, "NTSN"), the UID echoed.
        packet, uid = ntp_request(session, bytes(len(session.cookies[0])))
        sock.sendto(packet, ("127.0.0.1", ntp))
        reply, _ = sock.recvfrom(4096)
        assert reply[1] == 0 and reply[12:16] == b"NTSN" and reply[48:] == field_bytes(UID, uid)
    response, gcm = key_exchange(ke, nts_files["ca"], request=bytes.fromhex("80010002000080040004001e000f80000000"))
    assert gcm is not None and gcm.aead == 30, records(response)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        packet, uid = ntp_request(gcm, gcm.cookies[0], placeholders=1)
        sock.sendto(packet, ("127.0.0.1", ntp))
        reply, _ = sock.recvfrom(4096)
        assert len(verify_reply(gcm, reply, uid)) == 2
    # The wrong ALPN: the connection closes with no record.
    response, session = key_exchange(ke, nts_files["ca"], alpn=[b"http/1.1"])
    assert response == b"" and session is None
    assert series(server, "epoch_nts_ke_sessions_total")["alpn_mismatch"] == 1


def test_nts_required_drops_plain_ntp_and_counts_it(nts_server):
    server, ntp, _ = nts_server("--nts-required")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(b"\x23" + bytes(39) + b"\x01" * 8, ("127.0.0.1", ntp))
        with pytest.raises(socket.timeout):
            sock.recvfrom(2048)
    # Counted when the server reads the datagram: wait for it (bounded), then assert exactly one.
    wait_until(lambda: series(server, "epoch_ntp_nts_requests_total").get("unauthenticated_refused", 0) >= 1, 10,
               "the refused datagram was not counted")
    assert series(server, "epoch_ntp_nts_requests_total")["unauthenticated_refused"] == 1


HOSTILE = int(os.environ.get("NTS_HOSTILE_CASES", "10000"))
HOSTILE_KE = int(os.environ.get("NTS_HOSTILE_KE_CASES", "300"))


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        if choice == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice == 1:
            data = data[:rng.randrange(len(data) + 1)]
        elif choice == 2:
            data += bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 16, 300))))
        elif choice == 3 and len(data) > 52:
            at = 48 + rng.randrange(0, len(data) - 48) // 4 * 4
            data[at + 2:at + 4] = rng.randrange(65536).to_bytes(2, "big")  # an extension field's length
        else:
            data = data + data[48:]
    return bytes(data)


def test_hostile_ntp_extension_fields(nts_server, nts_files):
    """HOSTILE mutated NTS requests, each from a fresh authentic one: no reply larger than its
    request (matched by the origin timestamp), the server alive, and every datagram accounted for
    in the metrics: a reply (NTS, NAK or plain) or a drop counted by reason."""
    server, ntp, ke = nts_server()
    _, session = key_exchange(ke, nts_files["ca"])
    rng = random.Random(20261203)

    def totals() -> dict[str, float]:
        nts = series(server, "epoch_ntp_nts_requests_total")
        return {"replies": sum(series(server, "epoch_ntp_replies_total").values()),
                "ntp_drops": sum(series(server, "epoch_ntp_dropped_packets_total").values()),
                "nts_drops": sum(v for k, v in nts.items() if k not in ("authenticated", "nak_unknown_cookie"))}

    before = totals()
    sent: dict[bytes, int] = {}
    replies = larger = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # Room for a whole batch's replies (the kernel caps it at rmem_max), so none is lost here.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.settimeout(0.5)

        def read_replies() -> None:
            nonlocal replies, larger
            try:
                while True:
                    reply, _ = sock.recvfrom(4096)
                    replies += 1
                    if len(reply) > sent.get(reply[24:32], 0):
                        larger += 1
            except socket.timeout:
                pass

        for batch in range(0, HOSTILE, 100):
            for _ in range(min(100, HOSTILE - batch)):
                base, _ = ntp_request(session, rng.choice(session.cookies), placeholders=rng.randrange(4))
                packet = mutate(rng, base)
                if len(packet) >= 48:
                    sent[packet[40:48]] = min(len(packet), sent.get(packet[40:48], 1 << 20))
                sock.sendto(packet, ("127.0.0.1", ntp))
            read_replies()
        # A stalled server may still be working through the last batch: wait (bounded) until every
        # datagram is counted, then read the replies that came after the last 0.5 s of silence.
        deadline = time.monotonic() + 10
        while True:
            after = totals()
            delta = {k: after[k] - before[k] for k in after}
            if sum(delta.values()) >= HOSTILE or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        read_replies()
    assert server.process.poll() is None, server.output()[-3000:]
    print(f"{HOSTILE} hostile NTP packets: {delta}, {replies} replies read")
    assert larger == 0, f"{larger} replies larger than their request"
    assert replies == delta["replies"]
    assert delta["replies"] + delta["ntp_drops"] + delta["nts_drops"] == HOSTILE, delta


def test_hostile_ke_record_streams(nts_server, nts_files):
    """HOSTILE_KE mutated NTS-KE requests over real TLS (the pure parser takes 10,000 in the Swift
    unit tests): each connection ends counted once, the server alive and still serving keys."""
    server, ntp, ke = nts_server()
    rng = random.Random(4460)
    for _ in range(HOSTILE_KE):
        request = mutate(rng, b"\x00" * 48 + CHRONY_KE_REQUEST)[48:] if rng.random() < 0.7 else \
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        try:
            key_exchange(ke, nts_files["ca"], request=request, timeout=8, close_after_sending=True)
        except (OSError, Exception) as error:  # the server closing mid-stream is fine
            if isinstance(error, AssertionError):
                raise
    assert server.process.poll() is None, server.output()[-3000:]
    # Every connection ends in exactly one result (a closing connection may take a moment).
    import time
    deadline = time.monotonic() + 10
    while sum(series(server, "epoch_nts_ke_sessions_total").values()) < HOSTILE_KE and time.monotonic() < deadline:
        time.sleep(0.2)
    sessions = series(server, "epoch_nts_ke_sessions_total")
    print(f"{HOSTILE_KE} hostile NTS-KE streams: {sessions}")
    assert sum(sessions.values()) == HOSTILE_KE
    _, session = key_exchange(ke, nts_files["ca"])
    assert session is not None and len(session.cookies) == 8


def test_keygen_never_overwrites_and_is_0600(release_binary, tmp_path):
    path = tmp_path / "k"
    assert subprocess.run([str(release_binary), "nts", "keygen", str(path)]).returncode == 0
    assert (path.stat().st_mode & 0o777) == 0o600
    before = path.read_bytes()
    done = subprocess.run([str(release_binary), "nts", "keygen", str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "cannot create" in done.stderr and path.read_bytes() == before
    rotated = tmp_path / "k2"
    assert subprocess.run([str(release_binary), "nts", "keygen", str(rotated), "--previous", str(path)]).returncode == 0
    lines = [line for line in rotated.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 2 and lines[1] == [line for line in before.decode().splitlines() if not line.startswith("#")][0]


def test_bad_nts_settings_are_one_line_and_exit_2(release_binary, nts_files, tmp_path):
    cases = [
        (["--nts-ke-port", "4460"], "--nts-ke-port needs --ntp-port"),
        (["--ntp-port", "0", "--nts-ke-port", "0"], "--nts-ke-port needs --nts-cert FILE"),
        (["--ntp-port", "0", "--nts-ke-port", "0", "--nts-cert", str(nts_files["cert"]), "--nts-key",
          str(nts_files["key"]), "--nts-cookie-key", str(nts_files["cert"])], "--nts-cookie-key"),
    ]
    for args, message in cases:
        done = subprocess.run([str(release_binary), "serve", "--port", "0", *args], capture_output=True, text=True,
                              timeout=10)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr
        assert "BEGIN" not in done.stderr  # never a file's contents


def test_the_nts_component_adds_nts_ke_and_ntp_to_an_overlay():
    """components/nts renders into the staging overlay (which has Roughtime): TCP 4460 and UDP NTP on
    the container, the Service and the NetworkPolicy; both Secrets mounted beside Roughtime's key.
    The control is the overlay without it: no NTS-KE port, no NTS setting, no NTS volume."""
    import yaml

    from conftest import REPO_ROOT

    work = REPO_ROOT / ".build-nts-component"
    work.mkdir(exist_ok=True)

    def render(components: list[str]) -> dict:
        (work / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["../deploy/k8s/overlays/staging"], "components": components,
        }))
        done = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "kubectl"), "kustomize", str(work)],
                              capture_output=True, text=True, check=True,
                              env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin"})
        found = {"ports": set(), "service": set(), "policy": set(), "env": {}, "volumes": set()}
        for doc in yaml.safe_load_all(done.stdout):
            if not doc or not doc["metadata"]["name"].startswith("epoch"):
                continue
            if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "epoch-test":
                spec = doc["spec"]["template"]["spec"]
                container = spec["containers"][0]
                found["ports"] = {(p["name"], p["containerPort"], p["protocol"]) for p in container["ports"]}
                found["env"] = {e["name"]: e.get("value") for e in container["env"] if e["name"].startswith("EPOCH_NT")}
                found["volumes"] = {v["secret"]["secretName"] for v in spec.get("volumes", [])}
            if doc["kind"] == "Service":
                found["service"] |= {(p["name"], p["port"], p["protocol"]) for p in doc["spec"]["ports"]}
            if doc["kind"] == "NetworkPolicy":
                found["policy"] |= {(p["port"], p["protocol"]) for rule in doc["spec"]["ingress"] for p in rule["ports"]}
        return found

    nts = render(["../deploy/k8s/components/nts"])
    assert {("nts-ke", 4460, "TCP"), ("ntp", 1123, "UDP"), ("roughtime", 2002, "UDP")} <= nts["ports"]
    assert {("nts-ke", 4460, "TCP"), ("ntp", 123, "UDP")} <= nts["service"]
    assert {("nts-ke", "TCP"), ("ntp", "UDP")} <= nts["policy"]
    assert nts["env"]["EPOCH_NTS_KE_PORT"] == "4460" and nts["env"]["EPOCH_NTS_NTP_PORT"] == "123"
    assert nts["env"]["EPOCH_NTS_COOKIE_KEY"] == "/etc/epoch/nts-cookie/key"
    assert {"epoch-nts-tls", "epoch-nts-cookie-key", "epoch-roughtime-key"} <= nts["volumes"]
    plain = render([])
    assert not any(name == "nts-ke" for name, _, _ in plain["ports"] | plain["service"])
    assert not plain["env"] and "epoch-nts-tls" not in plain["volumes"]


def test_certificate_and_cookie_key_reload_when_their_files_change(nts_server, nts_files, tmp_path, release_binary):
    """cert-manager renews the certificate in place, the operator rotates the cookie key: new
    sessions get the new certificate without a restart, and cookies sealed before the rotation
    still open. The control of each: the old CA no longer verifies; a key nobody holds gets a NAK."""
    import time

    server, ntp, ke = nts_server()
    _, before = key_exchange(ke, nts_files["ca"])
    assert before is not None
    new_ca, new_cert, new_key = make_tls_files(tmp_path / "renewed", common_name="renewed CA")
    # Replaced as a Secret volume does: new files, then a rename over the old names.
    for source, target in ((new_cert, nts_files["cert"]), (new_key, nts_files["key"])):
        staged = target.with_suffix(".new")
        staged.write_bytes(source.read_bytes())
        staged.rename(target)
    rotated = tmp_path / "rotated.key"
    subprocess.run([str(release_binary), "nts", "keygen", str(rotated), "--previous", str(nts_files["cookie_key"])],
                   check=True)
    rotated.rename(nts_files["cookie_key"])
    deadline = time.monotonic() + 15
    after = None
    while time.monotonic() < deadline:
        try:
            _, after = key_exchange(ke, new_ca, timeout=3)
            if after is not None:
                break
        except Exception:  # the old certificate still served: not yet reloaded
            time.sleep(0.5)
    assert after is not None, "the renewed certificate was not served within 15 s"
    with pytest.raises(Exception):
        key_exchange(ke, nts_files["ca"], timeout=3)
    assert after.cookies[0][:4] != before.cookies[0][:4], "new cookies must carry the new key's ID"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for session in (before, after):  # a cookie from before the rotation, and one from after
            packet, uid = ntp_request(session, session.cookies[1])
            sock.sendto(packet, ("127.0.0.1", ntp))
            reply, _ = sock.recvfrom(4096)
            assert len(verify_reply(session, reply, uid)) == 1
        forged = bytes.fromhex("0badc0de") + before.cookies[2][4:]
        packet, uid = ntp_request(before, forged)
        sock.sendto(packet, ("127.0.0.1", ntp))
        reply, _ = sock.recvfrom(4096)
        assert reply[12:16] == b"NTSN"
