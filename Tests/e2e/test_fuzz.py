"""Hostile input against the release binary (docs/reliability.md): a seeded corpus of malformed and
adversarial requests (fuzz_support.py), slowloris and half-open connections, and a flood of idle
connections. The server must stay up, answer every complete request with a well-formed response
(4xx for bad input), close what never completes, keep its memory, and keep answering GET /.

FUZZ_SEED and FUZZ_CASES override the corpus (a failure prints the seed and the case's bytes)."""
from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import socket
import time

import pytest

from conftest import EPOCH_JSON_RE, EpochProcess, http_get
from fuzz_support import Case, describe, generate, judge, parse_responses, play, run_cases, summarize, Outcome

SEED = int(os.environ.get("FUZZ_SEED", "20261125"))
CASES = int(os.environ.get("FUZZ_CASES", "12000"))
REQUEST_TIMEOUT = 2.0  # --request-timeout of the server under test
IDLE_TIMEOUT = 4.0  # --idle-timeout: half-open connections that never send are closed by it
FLOOD = 1500


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def assert_serves(server: EpochProcess) -> None:
    assert server.process.poll() is None, f"the server died:\n{server.output()[-3000:]}"
    status, headers, body = http_get(server.url + "/")
    assert status == 200 and EPOCH_JSON_RE.match(body.decode()), (status, body)
    assert http_get(server.url + "/healthz")[0] == 200


def assert_no_crash_output(server: EpochProcess) -> None:
    output = server.output()
    for marker in ("Fatal error", "fatal error", "Illegal instruction", "Segmentation fault", "Current stack trace",
                   "precondition", "assertion"):
        assert marker not in output, f"server output mentions {marker!r}:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def server(release_binary):
    process = EpochProcess(release_binary, "--request-timeout", f"{REQUEST_TIMEOUT:g}s",
                           "--idle-timeout", f"{IDLE_TIMEOUT:g}s", "--threads", "2").wait_ready()
    for _ in range(200):  # warm up: the idle RSS is that of a server that has served
        assert http_get(process.url + "/")[0] == 200
    time.sleep(0.5)
    process.idle_rss_kib = rss_kib(process.process.pid)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def corpus(server) -> list[Outcome]:
    cases = generate(SEED, CASES)
    started = time.monotonic()
    outcomes = asyncio.run(run_cases(cases, server.port))
    summary = summarize(outcomes)
    summary.update(seed=SEED, seconds=round(time.monotonic() - started, 1))
    print(f"\n=== fuzz corpus ===\n{json.dumps(summary, indent=1)}")
    return outcomes


def test_the_checker_rejects_broken_answers():
    """The oracle itself: a response after `connection: close`, an unframed response, a 5xx, a
    missing answer and a 200 to garbage must each be reported."""
    good = (b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}')
    bad_request = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    complete = Case(0, "t", b"x", True, frozenset({400}))
    cases = {
        "more followed": (complete, bad_request + bad_request, "eof"),
        "unframed": (complete, b"HTTP/1.1 400 Bad Request\r\n\r\n", "eof"),
        "server error": (Case(0, "t", b"x", True, frozenset({400, 500})), b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n", "eof"),
        "no response": (complete, b"", "eof"),
        "first status 200": (complete, good, "eof"),
        "still open": (complete, bad_request, "timeout"),
        "incomplete": (Case(0, "t", b"x", False, frozenset({400})), good, "eof"),
    }
    for expected, (case, received, ending) in cases.items():
        outcome = Outcome(case, ending=ending)
        judge(outcome, received)
        assert any(expected in problem for problem in outcome.problems), (expected, outcome.problems)
    ok = Outcome(complete, ending="eof")
    judge(ok, bad_request)
    assert ok.problems == []
    assert len(parse_responses(good * 3, True, False)[0]) == 3


def test_every_complete_request_gets_a_well_formed_answer(corpus):
    assert len(corpus) >= 10_000
    failed = [outcome for outcome in corpus if outcome.problems]
    assert not failed, f"{len(failed)} of {len(corpus)} cases failed (FUZZ_SEED={SEED}); first ones:\n" + "\n".join(
        describe(outcome) for outcome in failed[:10])
    # The corpus did exercise both sides: valid requests were answered 200, bad ones 4xx.
    statuses = {response.status for outcome in corpus for response in outcome.responses}
    assert 200 in statuses and 400 in statuses


def test_the_server_survives_the_corpus_with_its_memory(server, corpus):
    assert_serves(server)
    assert_no_crash_output(server)
    time.sleep(IDLE_TIMEOUT + 1)  # let every leftover connection time out
    after = rss_kib(server.process.pid)
    print(f"\nRSS: idle {server.idle_rss_kib} KiB, after {len(corpus)} hostile cases {after} KiB "
          f"({after / server.idle_rss_kib:.2f}x)")
    assert after <= 2 * server.idle_rss_kib


def test_slowloris_and_half_open_connections_are_closed(server, corpus):
    """Three kinds of connections that never finish a request: a slowloris trickling a header byte
    every 0.2 s, one that sends part of a head and goes silent, one that sends nothing. The server
    must close every one of them itself (request timeout, idle timeout) and meanwhile answer GET /."""
    per_kind = 60
    bound = 5 * (REQUEST_TIMEOUT + IDLE_TIMEOUT)  # only a bound for a test that must end

    async def connection(kind: str) -> str:
        started = time.monotonic()
        ending = await hang_on(kind)
        closed_after[kind].append(time.monotonic() - started)
        return ending

    closed_after: dict[str, list[float]] = {"slowloris": [], "partial": [], "silent": []}

    async def hang_on(kind: str) -> str:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", server.port))
            if kind == "partial":
                await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            trickle = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Loris: 1\r\n" * 10_000
            deadline = time.monotonic() + bound
            position = 0
            while time.monotonic() < deadline:
                if kind == "slowloris":
                    try:
                        await loop.sock_sendall(sock, trickle[position:position + 1])
                    except OSError:
                        return "closed"
                    position += 1
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.2)
                except asyncio.TimeoutError:
                    continue
                except OSError:
                    return "closed"
                if not data:
                    return "closed"
                if not data.startswith(b"HTTP/1.1 4"):
                    return f"answered {data[:40]!r}"
            return "still open"
        finally:
            sock.close()

    async def scenario():
        tasks = [asyncio.create_task(connection(kind)) for kind in ("slowloris", "partial", "silent")
                 for _ in range(per_kind)]
        await asyncio.sleep(1.0)
        status, _, body = await asyncio.to_thread(http_get, server.url + "/")  # while they hang on
        return status, body, await asyncio.gather(*tasks)

    status, body, endings = asyncio.run(scenario())
    assert status == 200 and EPOCH_JSON_RE.match(body.decode())
    print(f"\nslowloris/partial/silent connections: {dict((e, endings.count(e)) for e in set(endings))}; "
          "closed after (max s): " + ", ".join(f"{k} {max(v):.1f}" for k, v in closed_after.items()))
    assert endings == ["closed"] * (3 * per_kind)
    assert_serves(server)


def test_a_flood_of_idle_connections_does_not_stop_get(release_binary):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FLOOD + 200:
        assert hard == resource.RLIM_INFINITY or hard >= FLOOD + 200, f"RLIMIT_NOFILE hard limit {hard} < {FLOOD + 200}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else FLOOD + 1000, hard))
    # The server inherits the raised limit; the default idle timeout (75 s) keeps the flood open.
    server = EpochProcess(release_binary, "--threads", "2").wait_ready()
    sockets: list[socket.socket] = []
    try:
        for index in range(FLOOD):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if index % 3 == 1:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # an unfinished head
            sockets.append(sock)
        time.sleep(0.5)
        # The server accepted them (they are not waiting in the listen backlog): it holds a
        # descriptor for each.
        held = len(os.listdir(f"/proc/{server.process.pid}/fd"))
        print(f"\nflood: {len(sockets)} idle connections open, the server holds {held} descriptors")
        assert held >= FLOOD
        for _ in range(20):
            assert_serves(server)
        assert sum(1 for sock in sockets if sock.fileno() >= 0) == FLOOD
    finally:
        for sock in sockets:
            sock.close()
        assert_no_crash_output(server)
        assert server.stop() == 0


def test_a_connect_request_gets_a_405_and_a_closed_connection(server):
    """After CONNECT, NIO's decoder treats the connection as a tunnel and parses nothing more, and
    its encoder frames every answer to CONNECT as bodiless (RFC 9110 asks that of 2xx only): so the
    server answers 405 with `connection: close` and closes (a close-delimited message, RFC 9112
    §6.3), and the client does not wait for a timeout."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT + 2) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):  # until the server closes: a timeout here fails the test
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 405 method not allowed\r\n"), received
    assert b"\r\nconnection: close" in head and b"\r\nallow: get, head" in head
    assert received.count(b"HTTP/1.1") == 1, "nothing is answered after CONNECT"
    assert_serves(server)
