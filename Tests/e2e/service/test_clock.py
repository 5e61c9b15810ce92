"""Honest clocks, end to end with the release binary: the server reports its kernel's clock
discipline (this machine's is undisciplined: TIME_ERROR, STA_UNSYNC, 16 s), clients add it to
their bounds, and whole-second servers are measured to about a round trip."""
from __future__ import annotations

import ctypes
import ctypes.util
import email.utils
import json
import math
import random
import signal
import statistics
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.http import http_get, parse_json, wait_for_http
from harness.servers import EpochProcess

pytestmark = pytest.mark.clock  # make clock-test

MS = 1_000_000
STA_UNSYNC = 0x0040
STATES = ["TIME_OK", "TIME_INS", "TIME_DEL", "TIME_OOP", "TIME_WAIT", "TIME_ERROR"]


def kernel_clock():
    """adjtimex(modes=0) read here, independently of the binary: (state, status, maxerror ns).
    x86-64/aarch64 glibc `struct timex`: modes, then longs offset, freq, maxerror, esterror, then int status."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buffer = ctypes.create_string_buffer(512)
    state = libc.adjtimex(buffer)
    assert state >= 0, ctypes.get_errno()
    (maxerror_us,) = struct.unpack_from("q", buffer, 24)
    (status,) = struct.unpack_from("i", buffer, 40)
    return STATES[state], status, maxerror_us * 1000


def kernel_synchronized(maxerror_ns):
    """The one rule (ClockDiscipline.isSynchronized): maxerror below the kernel's 16 s cap.
    STA_UNSYNC and TIME_ERROR do not decide (chrony leaves them set without rtcsync)."""
    return maxerror_ns < 16_000_000_000


def epoch(binary, *args, timeout=60):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)


def test_the_server_reports_this_machines_real_clock_state(epoch_server):
    state, status, maxerror = kernel_clock()
    server = epoch_server()
    clock = parse_json(http_get(server.url + "/clock")[2])
    print(f"kernel: {state} status {status:#x} maxerror {maxerror / 1e9} s; /clock: {clock}")
    assert clock["state"] == state and clock["status"] == status
    assert clock["synchronized"] is kernel_synchronized(maxerror)
    # maxerror grows by 500 µs a second until its 16 s cap, and the server's reading is <= 1 s old.
    assert abs(clock["max_error_ns"] - maxerror) <= 2 * MS
    assert ("STA_UNSYNC" in clock["status_bits"]) is bool(status & STA_UNSYNC)
    assert clock["reason"].startswith("the kernel clock is " + ("synchronized" if clock["synchronized"] else "not"))
    sync = parse_json(http_get(server.url + "/sync")[2])["clock"]
    assert sync == {k: clock[k] for k in ("synchronized", "max_error_ns", "estimated_error_ns", "state")}
    metrics = http_get(server.url + "/metrics")[2].decode()
    assert f"epoch_clock_sync_status {1.0 if clock['synchronized'] else 0.0}\n" in metrics
    assert f"epoch_clock_maxerror_seconds {clock['max_error_ns'] / 1e9}\n" in metrics
    assert f"epoch_clock_status {float(status)}\n" in metrics
    assert "# HELP epoch_clock_estimated_error_seconds " in metrics
    assert "clock: the kernel clock is" in server.output()


@pytest.mark.parametrize("args, env", [(["--require-synchronized-clock"], {}),
                                       ([], {"EPOCH_REQUIRE_SYNCHRONIZED_CLOCK": "true"})], ids=["flag", "env"])
def test_require_synchronized_clock_gates_readyz_on_the_real_kernel(release_binary, epoch_server, args, env):
    state, status, maxerror = kernel_clock()
    default = epoch_server()
    assert http_get(default.url + "/readyz")[0] == 200  # Off by default: the control.
    gated = EpochProcess(release_binary, *args, env=env)
    try:
        wait_for_http(gated.url + "/healthz")
        code, _, body = http_get(gated.url + "/readyz")
    finally:
        gated.stop(signal.SIGKILL)
    if kernel_synchronized(maxerror):
        assert code == 200
    else:
        assert code == 503, body
        answer = parse_json(body)
        assert answer["status"] == "clock unsynchronized" and state in answer["reason"], answer


def test_a_bad_require_synchronized_clock_value_is_one_line(release_binary):
    result = subprocess.run(
        [str(release_binary), "serve", "--port", "0"], capture_output=True, text=True, timeout=30,
        env={"EPOCH_REQUIRE_SYNCHRONIZED_CLOCK": "maybe"})
    assert result.returncode == 2
    assert result.stderr.strip() == "epoch: EPOCH_REQUIRE_SYNCHRONIZED_CLOCK=maybe is invalid: it accepts true or false"


class Fixture:
    """A loopback HTTP/1.1 server; `answer(handler)` returns (status, headers, body) for each GET,
    and the `Date` header reads the local clock shifted by `skew` seconds."""

    def __init__(self, answer, skew=0.0):
        fixture = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # As Go's net/http and most servers: without it the body waits for the ACK of the
            # head (Nagle against delayed ACK, ~40 ms), and every probe after it leaves late.
            disable_nagle_algorithm = True

            def date_time_string(self, timestamp=None):
                return email.utils.formatdate(time.time() + self.server.skew, usegmt=True)

            def reply(self, send_body):
                fixture.requests += 1
                status, headers, body = answer(self)
                self.send_response(status)  # Reads the (skewed) clock for Date: between t1 and t4.
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's naming
                self.reply(True)

            def do_HEAD(self):  # noqa: N802
                self.reply(False)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.skew = skew
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fixtures():
    started = []

    def start(answer, skew=0.0):
        started.append(Fixture(answer, skew))
        return started[-1]

    yield start
    for fixture in started:
        fixture.close()


def sync_answer(clock):
    """An epoch /sync answer, with `clock` as the server's clock object (None: an older server)."""

    def answer(handler):
        t2 = time.time_ns()
        body = {"type": "sync", "t1": None, "t2": t2, "t3": time.time_ns(), "unit": "ns", "rev": "fake001"}
        if clock is not None:
            body["clock"] = clock
        return 200, [("Content-Type", "application/json")], json.dumps(body).encode()

    return answer


SYNCHRONIZED = {"synchronized": True, "max_error_ns": 2 * MS, "estimated_error_ns": 100_000, "state": "TIME_OK"}


def test_the_bound_includes_a_synchronized_servers_max_error(release_binary, fixtures):
    server = fixtures(sync_answer(SYNCHRONIZED))
    report = json.loads(epoch(release_binary, "sync", server.url, "--json").stdout)
    assert report["server_synchronized"] is True and report["server_max_error_ns"] == 2 * MS
    assert report["error_bound_ns"] == report["network_bound_ns"] + 2 * MS
    assert report["server_clock_state"] == "TIME_OK" and report["kind"] == "http-sync"
    sentence = epoch(release_binary, "sync", server.url).stdout
    assert "includes the server's own maximum error of 0.002000 s (its clock is synchronized, TIME_OK)" in sentence
    check = epoch(release_binary, "check", server.url, "--max-offset", "100ms")
    assert check.returncode == 0 and "clock check passed" in check.stdout, check
    # The server's 2 ms is part of what the check compares: a 1 ms limit cannot pass.
    tight = epoch(release_binary, "check", server.url, "--max-offset", "1ms")
    assert tight.returncode == 1 and "exceeds --max-offset 1ms" in tight.stderr


def test_check_fails_against_this_machines_unsynchronized_server_unless_allowed(release_binary, epoch_server, fixtures):
    state, status, maxerror = kernel_clock()
    if kernel_synchronized(maxerror):
        pytest.skip(f"this kernel is synchronized ({state}): the unsynchronized path needs an undisciplined clock")
    server = epoch_server()
    report = json.loads(epoch(release_binary, "sync", server.url, "--json").stdout)
    assert report["server_synchronized"] is False and report["server_clock_state"] == state
    assert report["error_bound_ns"] == report["network_bound_ns"] + report["server_max_error_ns"]
    assert abs(report["server_max_error_ns"] - maxerror) <= 2 * MS
    sentence = epoch(release_binary, "sync", server.url).stdout
    assert f"The server's clock is NOT synchronized ({state}, maximum error" in sentence, sentence
    refused = epoch(release_binary, "check", server.url, "--max-offset", "100ms")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"epoch: clock check failed: the server's clock is not synchronized ({state}, maximum error "
        f"{round(report['server_max_error_ns'] / 1e9)}s), so its time cannot be trusted "
        "(--allow-unsynchronized-server compares with it anyway)"), refused.stderr
    allowed = epoch(release_binary, "check", server.url, "--max-offset", "100ms", "--allow-unsynchronized-server")
    assert allowed.returncode == 0, allowed.stderr
    assert "within --max-offset 100ms of the server's clock, which is unsynchronized" in allowed.stdout
    # Control: the same client against an injected synchronized reading passes without the flag.
    synchronized = fixtures(sync_answer(SYNCHRONIZED))
    assert epoch(release_binary, "check", synchronized.url, "--max-offset", "100ms").returncode == 0


def test_an_older_server_without_the_clock_is_server_error_unknown(release_binary, fixtures):
    server = fixtures(sync_answer(None))
    report = json.loads(epoch(release_binary, "sync", server.url, "--json").stdout)
    assert report["server_synchronized"] is None and report["server_max_error_ns"] is None
    assert report["error_bound_ns"] == report["network_bound_ns"] < 50 * MS
    assert "Server error unknown" in epoch(release_binary, "sync", server.url).stdout
    assert epoch(release_binary, "check", server.url, "--max-offset", "100ms").returncode == 0


@pytest.mark.parametrize("clock", [
    {"synchronized": True, "max_error_ns": -1, "estimated_error_ns": 0, "state": "TIME_OK"},
    {"synchronized": True, "max_error_ns": 9223372036854775807, "estimated_error_ns": 0, "state": "TIME_OK"},
])
def test_an_impossible_server_error_is_one_line_and_exit_2(release_binary, fixtures, clock):
    server = fixtures(sync_answer(clock))
    result = epoch(release_binary, "sync", server.url)
    assert result.returncode == 2
    assert result.stderr.strip() == f"epoch: {server.url}/sync answered an impossible clock error"


# --- Millisecond answers from whole-second clocks -------------------------------------------------

def go_microepoch(handler):
    """The original go-microepoch: `/` only, whole seconds (truncated), 404 elsewhere."""
    if handler.path != "/":
        return 404, [("Content-Type", "text/plain")], b"404 page not found\n"
    data = math.floor(time.time() + handler.server.skew)
    body = json.dumps({"host": "go", "type": "epoch", "data": data, "unit": "sec", "rev": "574cb4c"})
    return 200, [("Content-Type", "application/json")], body.replace(" ", "").encode()


def date_only(handler):
    """Any web server: a page, and the (skewed) time only in its Date header."""
    return 200, [("Content-Type", "text/html")], b"<html>hello</html>"


def measure_whole_seconds(binary, fixtures, kind, skew, *extra):
    server = fixtures(go_microepoch if kind == "json" else date_only, skew)
    args = ["sync", server.url, "--json", *extra] + (["--date-header"] if kind == "date" else [])
    result = epoch(binary, *args)
    assert result.returncode == 0, result.stderr
    return {**json.loads(result.stdout), "truth_ns": round(skew * 1e9), "requests": server.requests}


def whole_second_runs(binary, fixtures, *extra, runs=24):
    """`runs` measurements, half against each fixture kind, with true offsets drawn from ±3 s at
    sub-second values (seeded, so a failure names its offset), eight at a time."""
    draw = random.Random(20261201)
    cases = [("json" if i % 2 == 0 else "date", round(draw.uniform(-3, 3), 3)) for i in range(runs)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda case: measure_whole_seconds(binary, fixtures, *case, *extra), cases))


def contains_truth(report):
    return report["offset_ns"] - report["error_bound_ns"] <= report["truth_ns"] <= report["offset_ns"] + report["error_bound_ns"]


def test_whole_second_servers_are_measured_to_milliseconds(release_binary, fixtures):
    reports = whole_second_runs(release_binary, fixtures)
    bounds = sorted(r["error_bound_ns"] for r in reports)
    for r in reports:
        print(f"{r['kind']:>13} truth {r['truth_ns'] / 1e9:+.3f} s offset {r['offset_ns'] / 1e9:+.6f} s "
              f"± {r['error_bound_ns'] / 1e6:.3f} ms, {r['samples']} exchanges in {r['elapsed_ns'] / 1e9:.2f} s")
    print(f"median bound {statistics.median(bounds) / 1e6:.3f} ms, max {bounds[-1] / 1e6:.3f} ms over {len(reports)} runs")
    assert {r["kind"] for r in reports} == {"whole-seconds", "date-header"}
    assert all(r["whole_seconds_only"] and r["server_synchronized"] is None for r in reports)
    missed = [r for r in reports if not contains_truth(r)]
    assert not missed, missed
    assert statistics.median(bounds) <= 10 * MS
    # Bounded sampling: a few seconds, and the request count matches what was reported.
    assert all(r["elapsed_ns"] <= 6_000_000_000 for r in reports)
    assert all(r["samples"] <= r["requests"] <= r["samples"] + 1 for r in reports)


def test_control_a_single_whole_second_sample_fails_the_millisecond_criterion(release_binary, fixtures):
    """Control: the same harness without the scheduled rounds (one sample, the naive midpoint
    of a one-second interval) still contains the truth but is nowhere near 10 ms."""
    reports = whole_second_runs(release_binary, fixtures, "--whole-second-budget", "0s", runs=8)
    assert all(contains_truth(r) and r["samples"] == 1 for r in reports)
    median = statistics.median(r["error_bound_ns"] for r in reports)
    print(f"control: median bound {median / 1e6:.1f} ms with one sample")
    assert median > 10 * MS


def test_the_sentence_prints_the_count_and_the_time(release_binary, fixtures):
    server = fixtures(date_only, 1.37)
    result = epoch(release_binary, "sync", "--date-header", server.url)
    assert result.returncode == 0, result.stderr
    assert "the server reports whole seconds only, in its Date header;" in result.stdout
    assert " exchanges in " in result.stdout and "bisected its second boundary" in result.stdout
    assert "Server error unknown" in result.stdout


def test_a_server_that_steps_is_caught(release_binary, fixtures):
    """A clock that jumps 5 s between answers leaves no common offset: exit 2, one line."""

    def stepping(handler):
        handler.server.skew = 0 if handler.server.served < 3 else 5
        handler.server.served += 1
        return go_microepoch(handler)

    server = fixtures(stepping)
    server.httpd.served = 0
    result = epoch(release_binary, "sync", server.url)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("contradicts the ones before it: the server stepped or lies"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("headers, message", [
    ([], "without a Date header"),
    ([("Date", "Sunday, 06-Nov-94 08:49:37 GMT")], "is not an IMF-fixdate"),
])
def test_a_bad_date_header_is_one_line_and_exit_2(release_binary, fixtures, headers, message):
    server = fixtures(lambda handler: (200, headers, b""))
    # BaseHTTPRequestHandler always sends its own Date: drop it for these answers.
    server.httpd.RequestHandlerClass.date_time_string = lambda self, timestamp=None: None
    server.httpd.RequestHandlerClass.send_header = _without_empty_date(server.httpd.RequestHandlerClass.send_header)
    result = epoch(release_binary, "sync", "--date-header", server.url)
    assert result.returncode == 2, result
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def _without_empty_date(send_header):
    def send(self, name, value):
        if name == "Date" and value is None:
            return
        send_header(self, name, value)
    return send
