"""Roughtime interoperability (make roughtime-test): the release binary against roughly 0.3.0,
an independent implementation from PyPI, in both directions and for both wire versions.

Every proof has a control that differs only in the thing proved and must fail: the wrong public
key, a reply tampered with on the way, a server clock skewed away from the others.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.http import http_get
from harness.paths import REPO_ROOT
from harness.polling import wait_until
from harness.ports import free_port
from harness.servers import EpochProcess

pytestmark = pytest.mark.roughtime  # make roughtime-test

ROUGHLY_PYTHON = REPO_ROOT / ".venv-roughtime" / "bin" / "python"
ROUGHLY = REPO_ROOT / ".venv-roughtime" / "bin" / "roughly"
PEER = REPO_ROOT / "Tests" / "e2e" / "harness" / "roughly_peer.py"
VERSIONS = {"1": 0x1, "0x8000000c": 0x8000000C}
# A fixed seed for roughly's server, so its public key is known up front (test data, not a secret).
ROUGHLY_SEED = base64.b64encode(bytes(range(32))).decode()
ROUGHLY_PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def roughly_installed():
    if not ROUGHLY.exists():
        pytest.fail(f"{ROUGHLY} is missing: run `make deps` (scripts/install-deps makes .venv-roughtime)")


def wait_udp(port: int, request: bytes, timeout: float = 20.0) -> None:
    """Polls a UDP server with `request` until it answers."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(request, ("127.0.0.1", port))
            try:
                sock.recvfrom(2048)
                return
            except OSError:
                time.sleep(0.05)
    pytest.fail(f"nothing answered on udp/{port} within {timeout}s")


def roughly_request() -> bytes:
    """A valid request, made by roughly, for polling servers until they are up."""
    code = "import roughly.client,sys; sys.stdout.buffer.write(roughly.client.build_request(versions=[1]).dump())"
    return subprocess.run([str(ROUGHLY_PYTHON), "-c", code], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def poll_request() -> bytes:
    return roughly_request()


@pytest.fixture
def our_server(release_binary, tmp_path, epoch_server, poll_request):
    """`epoch serve --roughtime-port` with a fresh key from `epoch roughtime keygen`."""

    def start(*args: str) -> tuple[int, str]:
        key_file = tmp_path / f"roughtime-{len(list(tmp_path.iterdir()))}.key"
        keygen = subprocess.run(
            [str(release_binary), "roughtime", "keygen", str(key_file)], capture_output=True, text=True, check=True
        )
        public_key = keygen.stdout.strip()
        port = free_udp_port()
        # This machine's kernel is unsynchronized: the lab flag lets it sign (test_roughtime_refusal.py
        # proves that without it nothing is signed).
        epoch_server("--roughtime-port", str(port), "--roughtime-key", str(key_file),
                     "--roughtime-serve-unsynchronized", *args)
        wait_udp(port, poll_request)
        return port, public_key

    return start


@pytest.fixture
def roughly_server(poll_request):
    started: list[subprocess.Popen] = []

    def start() -> int:
        port = free_udp_port()
        process = subprocess.Popen(
            [str(ROUGHLY), "server", "run", "--host", "127.0.0.1", "--port", str(port), "--no-grease"],
            env={**os.environ, "ROUGHLY_PRIVATE_KEY": ROUGHLY_SEED},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        started.append(process)
        wait_udp(port, poll_request)
        return port

    yield start
    for process in started:
        process.kill()
        process.wait()


def roughly_query(port: int, public_key: str, version: int, mode: str = "query") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROUGHLY_PYTHON), str(PEER), mode, "127.0.0.1", str(port), public_key, hex(version)],
        capture_output=True, text=True, timeout=30,
    )


def epoch(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("version", VERSIONS.values(), ids=VERSIONS.keys())
def test_roughly_verifies_our_server(our_server, version):
    port, public_key = our_server()
    result = roughly_query(port, public_key, version)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["version"] == version
    assert abs(answer["midpoint"] - time.time()) <= answer["radius"] + 2
    # This machine's kernel clock is unsynchronized (maxerror 16 s): RADI says so.
    assert answer["radius"] >= 3


@pytest.mark.parametrize("version", VERSIONS.values(), ids=VERSIONS.keys())
def test_control_roughly_rejects_our_server_under_another_key(our_server, version):
    port, public_key = our_server()
    # Without SRV the server answers, and roughly verifies the reply under the key it is given.
    assert roughly_query(port, public_key, version, "query-no-srv").returncode == 0
    result = roughly_query(port, ROUGHLY_PUBLIC, version, "query-no-srv")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "signature-certificate" in result.stderr
    # With SRV naming another key our server drops the request: no reply at all.
    assert roughly_query(port, ROUGHLY_PUBLIC, version).returncode == 3


@pytest.mark.parametrize("version", VERSIONS.keys())
def test_our_client_verifies_roughly_server(release_binary, roughly_server, version):
    port = roughly_server()
    # Only one version offered: the reply must be in it (checked by the client).
    env_version = {"1": "1", "0x8000000c": "0x8000000c"}[version]
    result = epoch(
        release_binary, "sync", f"roughtime://127.0.0.1:{port}", "--public-key", ROUGHLY_PUBLIC,
        "--roughtime-version", env_version, "--json",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["kind"] == "roughtime"
    assert answer["source_error_ns"] == 3_000_000_000
    assert abs(answer["offset_ns"]) <= answer["error_bound_ns"] + 1_000_000_000


def test_control_our_client_rejects_the_wrong_key(release_binary, roughly_server):
    port = roughly_server()
    wrong = base64.b64encode(bytes(32 * [7])).decode()
    result = epoch(release_binary, "sync", f"roughtime://127.0.0.1:{port}", "--public-key", wrong)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "delegation signature does not verify" in lines[0]


class TamperingProxy:
    """Forwards UDP to `upstream` and flips one byte of every reply at `offset`."""

    def __init__(self, upstream: int, offset: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.upstream = ("127.0.0.1", upstream)
        self.offset = offset
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        client = None
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            if peer != self.upstream:
                client = peer
                self.sock.sendto(data, self.upstream)
            elif client is not None:
                reply = bytearray(data)
                reply[self.offset] ^= 0x01
                self.sock.sendto(bytes(reply), client)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize(
    ("offset", "failure"),
    [
        # INDX, the last four bytes: roughly answers a lone request with an empty PATH, so any
        # other index cannot lead to ROOT.
        (-4, "Merkle path does not lead"),
        # The signature itself.
        (70, "response signature does not verify"),
    ],
)
def test_control_our_client_rejects_a_tampered_reply(release_binary, roughly_server, offset, failure):
    proxy = TamperingProxy(roughly_server(), offset)
    try:
        result = epoch(release_binary, "sync", f"roughtime://127.0.0.1:{proxy.port}", "--public-key", ROUGHLY_PUBLIC)
    finally:
        proxy.close()
    assert result.returncode == 2
    assert failure in result.stderr, result.stderr


def test_check_with_mixed_sources_names_the_one_that_disagrees(release_binary, roughly_server, our_server):
    """Three sources: roughly and our unskewed HTTP agree; our Roughtime server runs 60 s ahead."""
    roughly_port = roughly_server()
    skewed_port, skewed_key = our_server("--clock-skew", "60s")
    http_port = free_port()

    http = EpochProcess(release_binary, port=http_port).wait_ready()
    try:
        sources = [f"http://127.0.0.1:{http_port}", f"roughtime://127.0.0.1:{roughly_port}",
                   f"roughtime://127.0.0.1:{skewed_port}"]
        keys = ["--public-key", ROUGHLY_PUBLIC, "--public-key", skewed_key]
        result = epoch(release_binary, "check", *sources, *keys, "--max-offset", "30s")
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"roughtime://127.0.0.1:{skewed_port} disagrees with the majority" in result.stderr
        # Control: the same check without the skewed server passes, once the HTTP source's
        # unsynchronized clock (this machine's kernel: TIME_ERROR) is accepted explicitly ...
        result = epoch(release_binary, "check", *sources[:2], *keys[:2], "--max-offset", "30s",
                       "--allow-unsynchronized-server")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 sources agree" in result.stdout
        # ... and without that flag it fails, naming the source that reports it.
        result = epoch(release_binary, "check", *sources[:2], *keys[:2], "--max-offset", "30s")
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{sources[0]} reports its clock unsynchronized" in result.stderr
    finally:
        http.stop()


def udp_answered(port: int, request: bytes, timeout: float = 1.0) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            return len(sock.recvfrom(2048)[0]) > 0
        except OSError:
            return False


def test_roughtime_answers_through_the_http_drain(release_binary, tmp_path, poll_request):
    """SIGTERM: /readyz turns 503 at once, Roughtime keeps answering through --shutdown-delay, and
    the process then exits 0. Control: after the exit nothing answers on the same port."""
    key = tmp_path / "drain.key"
    subprocess.run([str(release_binary), "roughtime", "keygen", str(key)], check=True, capture_output=True)
    port = free_udp_port()
    server = EpochProcess(release_binary, "--shutdown-delay", "3s", "--roughtime-port", str(port),
                          "--roughtime-key", str(key), "--roughtime-serve-unsynchronized").wait_ready()
    try:
        wait_udp(port, poll_request)
        # A short datagram is dropped and counted; the key is in neither /metrics nor the log.
        assert not udp_answered(port, poll_request[:1000], timeout=0.5)
        # Counted when the server reads the datagram: wait for it (bounded), then assert exactly one.
        def too_short_count() -> tuple[float, str] | None:
            metrics = http_get(server.url + "/metrics")[2].decode()
            match = re.search(r'^roughtime_dropped_total\{reason="too_short"\} (\S+)$', metrics, re.MULTILINE)
            return (float(match.group(1)), metrics) if match else None

        count, metrics = wait_until(too_short_count, 10, "the short datagram was not counted")
        assert count == 1
        assert "roughtime_responses_total" in metrics and "roughtime_signatures_total" in metrics
        seed = key.read_text().strip()
        assert seed not in metrics and seed not in server.output()
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: http_get(server.url + "/readyz")[0] == 503, 10, "/readyz did not turn 503 on SIGTERM")
        assert udp_answered(port, poll_request), "Roughtime stopped answering during the drain"
        assert server.process.wait(timeout=30) == 0
        assert not udp_answered(port, poll_request), "something still answers after the exit"
    finally:
        server.stop()


def test_keygen_writes_a_private_file_and_refuses_to_overwrite(release_binary, tmp_path):
    key = tmp_path / "k"
    first = epoch(release_binary, "roughtime", "keygen", str(key))
    assert first.returncode == 0, first.stderr
    assert len(base64.b64decode(first.stdout.strip())) == 32
    assert key.stat().st_mode & 0o777 == 0o600
    contents = key.read_bytes()
    # Control: a second keygen to the same file fails and leaves it as it was.
    second = epoch(release_binary, "roughtime", "keygen", str(key))
    assert second.returncode != 0 and "File exists" in second.stderr
    assert key.read_bytes() == contents
    # A bad key file is refused in one line that does not repeat its contents.
    key.write_text("bm90IGEga2V5Cg==\n")
    serve = epoch(release_binary, "serve", "--port", "0", "--roughtime-port", "0", "--roughtime-key", str(key))
    assert serve.returncode == 2
    assert "bm90IGEga2V5" not in serve.stderr and len(serve.stderr.strip().splitlines()) == 1
