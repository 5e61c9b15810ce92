"""The state chrony leaves on Linux without `rtcsync`, made real: as root, adjtimex with
ADJ_MAXERROR|ADJ_ESTERROR sets the kernel's maxerror to 2 ms (the time itself is untouched, and
STA_UNSYNC stays set, so the kernel answers TIME_ERROR). By the one rule (maxerror below the 16 s
cap) that clock is synchronized everywhere: /clock, /readyz with --require-synchronized-clock, NTP
leap 0 and the configured stratum, a signed Roughtime answer with a small RADI, the watch's kernel
series. The control is the same server and watch a moment before, at the kernel's 16 s.

The whole machine sees the changed maxerror while it lasts, and other tests assume 16 s: the
window is a few seconds, and the original values are restored in a `finally`. make clock-test."""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from harness.http import http_get, parse_json, wait_for_http
from harness.paths import REPO_ROOT
from harness.polling import wait_until
from harness.ports import free_port
from harness.servers import EpochProcess

pytestmark = pytest.mark.clock  # make clock-test

ADJ_MAXERROR, ADJ_ESTERROR = 0x0004, 0x0008
STA_UNSYNC = 0x0040
ROUGHLY_PYTHON = REPO_ROOT / ".venv-roughtime" / "bin" / "python"
PEER = REPO_ROOT / "Tests" / "e2e" / "harness" / "roughly_peer.py"
LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def adjtimex(modes: int = 0, maxerror_us: int = 0, esterror_us: int = 0) -> tuple[int, int, int, int]:
    """glibc x86-64/aarch64 `struct timex`: modes (int) at 0, then longs offset 8, freq 16, maxerror
    24, esterror 32 (µs), int status at 40. Returns (state, status, maxerror µs, esterror µs)."""
    buffer = ctypes.create_string_buffer(512)
    struct.pack_into("I", buffer, 0, modes)
    struct.pack_into("qq", buffer, 24, maxerror_us, esterror_us)
    state = LIBC.adjtimex(buffer)
    if state < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    (maxerror, esterror) = struct.unpack_from("qq", buffer, 24)
    (status,) = struct.unpack_from("i", buffer, 40)
    return state, status, maxerror, esterror


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ntp_answer(port: int) -> tuple[int, int]:
    """(leap, stratum) of the reply to one client request."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\x23" + bytes(39) + struct.pack("!Q", 0x0123456789ABCDEF), ("127.0.0.1", port))
        reply, _ = sock.recvfrom(2048)
    return reply[0] >> 6, reply[1]


def readiness(server) -> tuple[int, str]:
    """/readyz's status code and its body's status."""
    code, _, body = http_get(server.url + "/readyz")
    return code, parse_json(body)["status"]


def observe(server, ntp_port: int, roughtime_port: int, public: str, watch_url: str) -> dict:
    clock = parse_json(http_get(server.url + "/clock")[2])
    leap, stratum = ntp_answer(ntp_port)
    roughly = subprocess.run([str(ROUGHLY_PYTHON), str(PEER), "query", "127.0.0.1", str(roughtime_port), public,
                              "0x1"], capture_output=True, text=True, timeout=30)
    watch = http_get(watch_url + "/metrics")[2].decode()
    kernel = re.search(r"^epoch_watch_kernel_synchronized (\S+)$", watch, re.M)
    return {
        "synchronized": clock["synchronized"], "state": clock["state"], "unsync_bit": "STA_UNSYNC" in clock["status_bits"],
        "max_error_ns": clock["max_error_ns"], "readyz": readiness(server),
        "leap": leap, "stratum": stratum, "roughly": roughly.returncode,
        "radius": json.loads(roughly.stdout)["radius"] if roughly.returncode == 0 else None,
        "watch_kernel_synchronized": float(kernel.group(1)) if kernel else None,
    }


def test_the_state_chrony_leaves_without_rtcsync_is_synchronized_everywhere(release_binary, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("setting the kernel's maxerror (adjtimex ADJ_MAXERROR|ADJ_ESTERROR) needs root")
    state, status, maxerror, esterror = adjtimex()
    if maxerror < 16_000_000:
        pytest.skip(f"this kernel is disciplined (maxerror {maxerror} µs): changing it would fight its daemon")
    key = tmp_path / "roughtime.key"
    public = subprocess.run([str(release_binary), "roughtime", "keygen", str(key)], capture_output=True, text=True,
                            check=True).stdout.strip()
    ntp_port, roughtime_port = free_udp_port(), free_udp_port()
    # No lab flag anywhere: everything serves what the kernel says. /readyz is 503 at first, so
    # the server is waited for until /readyz says why: the clock, once every listener is bound.
    server = EpochProcess(release_binary, "--ntp-port", str(ntp_port), "--roughtime-port", str(roughtime_port),
                          "--roughtime-key", str(key), "--require-synchronized-clock")
    watch_port = free_port()
    watch = subprocess.Popen([str(release_binary), "watch", "--host", "127.0.0.1", "--port", str(watch_port),
                              "--interval", "60s", "--allow-unsynchronized-sources", server.url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(server.url + "/healthz", 30)
        wait_until(lambda: readiness(server)[1] != "starting", 30, "the listeners were never all bound")
        watch_url = f"http://127.0.0.1:{watch_port}"
        wait_for_http(watch_url + "/healthz", 30)
        before = observe(server, ntp_port, roughtime_port, public, watch_url)  # the control, at 16 s
        window = time.monotonic()
        try:
            adjtimex(ADJ_MAXERROR | ADJ_ESTERROR, maxerror_us=2_000, esterror_us=100)
            time.sleep(1.1)  # the server's one reading is refreshed once a second
            during = observe(server, ntp_port, roughtime_port, public, watch_url)
        finally:
            adjtimex(ADJ_MAXERROR | ADJ_ESTERROR, maxerror_us=maxerror, esterror_us=esterror)
            window = time.monotonic() - window
        restored = adjtimex()
    finally:
        watch.kill()
        watch.wait()
        server.stop(signal.SIGKILL)
    print(f"kernel maxerror 2 ms for {window:.2f} s, restored to {restored[2]} µs\nbefore: {before}\nduring: {during}")
    assert restored[2] >= maxerror
    assert before == {**before, "synchronized": False, "readyz": (503, "clock unsynchronized"), "leap": 3, "stratum": 16, "roughly": 3,
                      "watch_kernel_synchronized": 0.0}
    assert during["state"] == "TIME_ERROR" and during["unsync_bit"], "STA_UNSYNC must still be set: chrony's state"
    assert 2_000_000 <= during["max_error_ns"] < 10_000_000
    assert during == {**during, "synchronized": True, "readyz": (200, "ready"), "leap": 0, "stratum": 3, "roughly": 0,
                      "radius": 3, "watch_kernel_synchronized": 1.0}
