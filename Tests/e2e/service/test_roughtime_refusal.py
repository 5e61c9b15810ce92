"""Roughtime never signs what it cannot back (RFC 10049 §5.2.5: the true time MUST lie within
MIDP ± RADI). This machine's kernel is unsynchronized (maxerror at its 16 s cap, a cap and not a
bound): roughly's client gets no reply and the drop is counted as `unsynchronized`; the control is
the same server with --roughtime-serve-unsynchronized, which signs RADI 17 s. make roughtime-test."""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from harness.http import http_get
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.roughtime  # make roughtime-test

ROUGHLY_PYTHON = REPO_ROOT / ".venv-roughtime" / "bin" / "python"
PEER = REPO_ROOT / "Tests" / "e2e" / "harness" / "roughly_peer.py"


def kernel_maxerror_ns() -> int:
    """adjtimex(modes=0)'s maxerror (glibc x86-64/aarch64 `struct timex`: a long at offset 24, µs)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buffer = ctypes.create_string_buffer(512)
    assert libc.adjtimex(buffer) >= 0, ctypes.get_errno()
    return struct.unpack_from("q", buffer, 24)[0] * 1000


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def roughly_query(port: int, public_key: str) -> subprocess.CompletedProcess:
    """roughly's client, one version-1 request with SRV; exit 3 means no reply within 5 s."""
    return subprocess.run([str(ROUGHLY_PYTHON), str(PEER), "query", "127.0.0.1", str(port), public_key, "0x1"],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def roughtime_server(release_binary, epoch_server, tmp_path):
    def start(*args: str):
        key = tmp_path / f"key-{len(list(tmp_path.iterdir()))}"
        public = subprocess.run([str(release_binary), "roughtime", "keygen", str(key)], capture_output=True,
                                text=True, check=True).stdout.strip()
        port = free_udp_port()
        server = epoch_server("--roughtime-port", str(port), "--roughtime-key", str(key), *args)
        deadline = time.monotonic() + 10
        while "roughtime listening" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        return server, port, public

    return start


@pytest.mark.parametrize("lab", [False, True], ids=["unsynchronized-refuses", "control-lab-flag-signs"])
def test_an_unsynchronized_server_signs_nothing_unless_the_lab_flag_asks(roughtime_server, lab):
    if kernel_maxerror_ns() < 16_000_000_000:
        pytest.skip("this kernel is synchronized (maxerror below 16 s): the refusal needs an undisciplined clock")
    server, port, public = roughtime_server(*(["--roughtime-serve-unsynchronized"] if lab else []))
    result = roughly_query(port, public)
    metrics = http_get(server.url + "/metrics")[2].decode()
    dropped = re.search(r'^roughtime_dropped_total\{reason="unsynchronized"\} (\d+)', metrics, re.M)
    print(result.stdout, result.stderr, dropped and dropped.group(0))
    if lab:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["radius"] == 17  # the 16 s cap plus MIDP's rounding
        assert dropped and dropped.group(1) == "0"
    else:
        assert result.returncode == 3, result.stdout + result.stderr  # no reply at all
        assert dropped and int(dropped.group(1)) >= 1
        assert "roughtime not answering: the kernel clock is not synchronized" in server.output()
