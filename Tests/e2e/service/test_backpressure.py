"""The hot path's bounds, with the real release binary: a pipelining flood that never reads stays
within idle + 32 MiB while a normal client is still answered; connections over --max-connections
are closed at accept and counted; the default thread count follows the CPU affinity mask.

Each proof has its control run: the same flood against the same binary with the backpressure
left out (a hidden testing flag) must break the bound, one more connection than the cap must be
served when the cap is raised by one, and two CPUs in the mask must give two loops.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness import flood  # shared with make bench
from harness.http import Response, ResponseReader, http_get, wait_for_http
from harness.polling import wait_until
from harness.ports import free_port

pytestmark = pytest.mark.backpressure  # make backpressure-test

BOUND_KIB = 32 * 1024
FLOOD = {"connections": 100, "megabytes": 8, "seconds": 8}


def run_flood(server, stop_above_kib: int) -> dict:
    figures = flood.flood(server.port, [server.process.pid], stop_above_kib=stop_above_kib, **FLOOD)
    print(f"flood against {server.process.args[1:]}: {figures}")
    return figures


def test_a_pipelining_flood_stays_within_idle_plus_32_mib_and_a_normal_client_is_answered(epoch_server):
    server = epoch_server()
    http_get(server.url + "/")  # warm: the idle figure includes a served request's pages
    idle = flood.rss_kib([server.process.pid])
    # The safety stop is far above the bound: this run is meant to stay under it by itself.
    figures = run_flood(server, stop_above_kib=idle + 4 * BOUND_KIB)
    assert figures["alive"] == 1, server.output()
    assert figures["peak_kib"] <= idle + BOUND_KIB, figures
    assert figures["normal_status"] == 200, figures
    status, _, _ = http_get(server.url + "/")
    assert status == 200
    assert server.process.poll() is None


def test_control_without_backpressure_the_same_flood_breaks_the_bound(epoch_server):
    server = epoch_server("--testing-without-backpressure")
    http_get(server.url + "/")
    idle = flood.rss_kib([server.process.pid])
    # Stops as soon as the bound is broken, so the control cannot take the machine's memory.
    figures = run_flood(server, stop_above_kib=idle + BOUND_KIB)
    assert figures["peak_kib"] > idle + BOUND_KIB, f"the control did not break the bound: {figures}"


class HeldConnection:
    """A keep-alive connection the test holds open, its responses parsed by h11."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = ResponseReader()

    def get(self, target: str) -> Response:
        self.sock.sendall(self.reader.expect("GET", target))
        while (response := self.reader.next()) is None:
            data = self.sock.recv(65536)
            assert data, f"the server closed the connection before answering {target}"
            self.reader.feed(data)
        return response


def open_connections(port: int, count: int) -> list[HeldConnection]:
    """Opens `count` keep-alive connections, each proven accepted by one answered request. The
    first waits (bounded, asking on itself) until the server counts it alone: the start-up's
    readiness poll closed its connection, but the server may not have seen that close yet."""
    first = HeldConnection(port)
    wait_until(lambda: connections_open(first.get("/metrics").body) == 1, 10,
               "the start-up's connections did not leave the server's count")
    held = [first] + [HeldConnection(port) for _ in range(count - 1)]
    for connection in held:
        assert connection.get("/").status == 200, "a connection under the cap was not served"
    return held


def connections_open(metrics: bytes) -> float:
    match = re.search(rb"^http_connections_open (\S+)$", metrics, re.MULTILINE)
    assert match, metrics.decode()
    return float(match.group(1))


def answered(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(flood.REQUEST)
            return sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        except OSError:  # reset: closed at accept
            return False


def rejected_total(metrics: bytes) -> float:
    match = re.search(rb"^http_connections_rejected_total (\S+)$", metrics, re.MULTILINE)
    assert match, metrics.decode()
    return float(match.group(1))


@pytest.mark.parametrize("cap, expect_answered", [(3, False), (4, True)])
def test_connections_over_the_cap_are_closed_at_accept_and_counted(epoch_server, cap, expect_answered):
    # cap 4 is the control: the same three held connections plus one more must be served.
    server = epoch_server("--max-connections", str(cap))
    held = open_connections(server.port, 3)
    try:
        assert answered(server.port) is expect_answered
        # The count is read on a held connection: a new one could itself be rejected (and counted)
        # until the server has seen the fourth connection close.
        metrics = held[0].get("/metrics")
        assert metrics.status == 200
        assert rejected_total(metrics.body) == (0 if expect_answered else 1)
    finally:
        for connection in held:
            connection.sock.close()
    # Closed connections leave the count: a new connection is served again (bounded poll).
    wait_for_http(server.url + "/", timeout=5)


@pytest.mark.skipif(shutil.which("taskset") is None or (os.cpu_count() or 1) < 2, reason="needs taskset and 2 CPUs")
@pytest.mark.parametrize("cpus, loops", [("0", 1), ("0,1", 2)])
def test_the_default_thread_count_follows_the_affinity_mask(release_binary, tmp_path, cpus, loops):
    # "0,1" is the control: the same binary with two CPUs in its mask runs two loops.
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w+b") as output:
        process = subprocess.Popen(
            ["taskset", "-c", cpus, str(release_binary), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while (match := re.search(rb'threads["=: ]+(\d+)', log.read_bytes())) is None:
                assert time.monotonic() < deadline and process.poll() is None, log.read_text()
                time.sleep(0.05)
            assert int(match.group(1)) == loops, log.read_text()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
