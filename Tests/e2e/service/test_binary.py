"""End-to-end tests of the release binary: what an operator and a client see."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from harness import servers
from harness.http import EPOCH_JSON_RE, http_get, parse_json, wait_for_http
from harness.polling import wait_until
from harness.ports import free_port
from harness.servers import EpochProcess, git_short_rev

pytestmark = pytest.mark.binary  # make e2e-test


def test_get_root_matches_the_original_shape_and_the_checkout(epoch_server):
    server = epoch_server()
    status, headers, body = http_get(server.url + "/")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert "date" in headers
    text = body.decode()
    assert EPOCH_JSON_RE.match(text), text
    payload = parse_json(body)
    assert payload["rev"] == git_short_rev(), "the binary must serve the commit it was built from"
    assert payload["host"] == socket.gethostname()
    assert abs(payload["data"] - time.time()) <= 1.5


def test_units_versions_and_errors(epoch_server):
    server = epoch_server()
    status, _, body = http_get(server.url + "/?unit=ms")
    assert status == 200 and parse_json(body)["unit"] == "ms"
    assert abs(parse_json(body)["data"] / 1e3 - time.time()) < 2
    status, headers, body = http_get(server.url + "/?unit=fortnight")
    assert status == 400 and headers["content-type"] == "application/json"
    assert "sec, ms, us, ns" in parse_json(body)["error"]
    status, _, body = http_get(server.url + "/version")
    assert status == 200 and parse_json(body)["rev"] == git_short_rev()
    status, _, body = http_get(server.url + "/metrics")
    assert status == 200 and b"epoch_request_count" in body


def test_environment_configures_the_server(release_binary):
    port = free_port()
    proc = subprocess.Popen(
        [str(release_binary)], env={**os.environ, "EPOCH_HOST": "127.0.0.1", "EPOCH_PORT": str(port)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        body = wait_for_http(f"http://127.0.0.1:{port}/")
        assert EPOCH_JSON_RE.match(body.decode())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def run_cli(binary, *args, env=None):
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})}
    )


def test_invalid_values_exit_2_with_one_line_naming_the_option(release_binary):
    cases = [
        (["serve", "--port", "http"], {}, "--port"),
        (["serve", "--port", "70000"], {}, "--port"),
        (["serve", "--shutdown-delay", "soon"], {}, "--shutdown-delay"),
        (["serve", "--log-level", "loud"], {}, "--log-level"),
        (["serve", "--threads", "0"], {}, "--threads"),
        (["serve", "--host", "localhost"], {}, "--host"),  # a name, not an address literal
        (["serve", "--host", "256.0.0.1"], {}, "--host"),
        (["serve", "--host", "127.0.0.1:8080"], {}, "--host"),
        (["serve", "--host", "::1::2"], {}, "--host"),
        (["serve"], {"EPOCH_HOST": "example.com"}, "EPOCH_HOST"),
        (["serve"], {"EPOCH_PORT": "eighty"}, "EPOCH_PORT"),
        (["serve"], {"EPOCH_SHUTDOWN_DELAY": "5 s"}, "EPOCH_SHUTDOWN_DELAY"),
    ]
    for args, env, option in cases:
        result = run_cli(release_binary, *args, env=env)
        assert result.returncode == 2, (args, env, result)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert option in lines[0] and lines[0].startswith("epoch: "), lines[0]
        if option in ("--host", "EPOCH_HOST"):
            assert "IPv4 or IPv6 address" in lines[0], lines[0]


def test_host_takes_ipv4_and_ipv6_literals(release_binary):
    """The control of the --host cases above: address literals pass the parse (and bind)."""
    for host in ("127.0.0.1", "::1", "0:0:0:0:0:0:0:1"):
        port = free_port()
        proc = subprocess.Popen([str(release_binary), "serve", "--host", host, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/readyz"
            wait_for_http(url, timeout=15)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, proc.stderr.read()


def test_an_occupied_port_is_one_line_and_exit_1(release_binary):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(release_binary, "serve", "--host", "127.0.0.1", "--port", str(port))
    assert result.returncode == 1
    assert f"epoch: cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Address already in use" in result.stderr


def test_help_and_version(release_binary):
    result = run_cli(release_binary, "--help")
    assert result.returncode == 0 and "serve" in result.stdout
    result = run_cli(release_binary, "--version")
    assert result.returncode == 0 and git_short_rev() in result.stdout


def test_sigterm_drains_in_flight_and_keep_alive_requests_then_exits_0(epoch_server):
    # The delay is the margin for what a load balancer does once readiness turns (the clients stop)
    # and for the half-sent request's end: 1.5 s was too little on a loaded 2-core machine.
    server = epoch_server("--shutdown-delay", "5s")
    # An idle keep-alive connection and a request that is half-sent when SIGTERM arrives.
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    idle.request("GET", "/")
    assert idle.getresponse().read()
    in_flight = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    in_flight.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")

    # Steady keep-alive traffic from four clients. Three stop, as a load balancer would, once
    # readiness turns; the fourth goes on through the half-sent request's end, well inside the
    # delay: every request they sent must get its 200.
    stop, stop_last = threading.Event(), threading.Event()
    results: list[int] = []
    last_client_results: list[int] = []
    errors: list[BaseException] = []

    def client(until: threading.Event, answered: list[int]):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            while not until.is_set():
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                answered.append(response.status)
        except BaseException as error:  # noqa: BLE001 - every failure is reported below
            errors.append(error)

    clients = [threading.Thread(target=client, args=(stop, results)) for _ in range(3)]
    clients.append(threading.Thread(target=client, args=(stop_last, last_client_results)))
    for thread in clients:
        thread.start()
    while len(results) < 200 and not errors:
        time.sleep(0.01)

    server.process.send_signal(signal.SIGTERM)
    readiness = wait_for_http(server.url + "/readyz", timeout=10, status=503)
    assert json.loads(readiness) == {"status": "draining"}
    stop.set()
    answered_at_readiness = len(last_client_results)
    status, _, body = http_get(server.url + "/")  # still served during the delay
    assert status == 200 and EPOCH_JSON_RE.match(body.decode())
    in_flight.sendall(b"\r\n")
    answer = in_flight.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer
    wait_until(lambda: len(last_client_results) > answered_at_readiness + 10 or errors, 10,
               "the keep-alive client was not served after readiness turned")
    stop_last.set()
    for thread in clients:
        thread.join(10)

    assert not errors, errors
    assert len(results) >= 200 and set(results) == {200}
    assert set(last_client_results) == {200}
    assert server.process.wait(30) == 0
    # The idle keep-alive connection was closed by the drain, not left hanging.
    idle.sock.settimeout(5)
    assert idle.sock.recv(1) == b""
    log = server.output()
    assert "draining: /readyz now answers 503" in log and "stopped" in log


def test_a_second_signal_exits_at_once(epoch_server):
    server = epoch_server("--shutdown-delay", "60s")
    server.process.send_signal(signal.SIGTERM)
    wait_for_http(server.url + "/readyz", timeout=10, status=503)
    server.process.send_signal(signal.SIGTERM)
    # Without the second signal the process would serve for another minute.
    assert server.process.wait(20) == 1
    assert "exiting at once" in server.output()


def _sections(binary) -> set[str]:
    out = subprocess.run(["readelf", "-SW", str(binary)], capture_output=True, text=True, check=True).stdout
    return {m.group(1) for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)", out, re.M)}


def test_the_release_binary_carries_no_unwind_tables(release_binary, tls_binary):
    # tools/no-unwind-tables.ld drops them from the release link (3.9 MB, issue 10); every other
    # test here runs that binary. Control: the debug build, linked without the script, has them.
    assert not {".eh_frame", ".eh_frame_hdr"} & _sections(release_binary)
    assert ".eh_frame" in _sections(tls_binary)


@pytest.mark.parametrize("port_chosen_by_harness", [True, False])
def test_a_taken_port_fails_at_once_and_the_harness_moves_off_one_it_chose(release_binary, monkeypatch,
                                                                          port_chosen_by_harness):
    """The server exits 1 with one line when its port is taken (a listener holds it here, as another
    process may between the harness's free_port() and the bind). The harness then starts again on
    another port it chose itself; the control, a port the test named, fails at once with that line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = iter([port])
        monkeypatch.setattr(servers, "free_port", lambda: next(ports, None) or free_port())
        server = EpochProcess(release_binary) if port_chosen_by_harness else EpochProcess(release_binary, port=port)
        try:
            if port_chosen_by_harness:
                server.wait_ready()
                assert server.port != port and http_get(server.url + "/")[0] == 200
            else:
                with pytest.raises(AssertionError, match="exited 1 before it was ready") as failure:
                    server.wait_ready(timeout=30)
                assert f"cannot serve on 127.0.0.1:{port}:" in str(failure.value) and "in use" in str(failure.value)
        finally:
            server.stop(signal.SIGKILL)
