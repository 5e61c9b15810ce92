"""Hostile input for test_fuzz.py: a seeded, reproducible generator of adversarial HTTP/1.1 requests,
a strict parser of what the server answers (h11, in support.py), and an asyncio runner that plays every case on its own
connection.

Every `Case` says what a correct server does with it: `allowed` is the set of statuses the first
response may have when the bytes hold a complete request (`complete`), `max_responses` bounds how
many responses the bytes can legitimately produce, and `all_ok` asks that each of them be a 200
(pipelined valid requests). The runner sends the bytes, half-closes (most cases: the server then
closes, so the whole answer is known without waiting for a timeout) or keeps the connection open,
and reads until the server closes it or `read_timeout` passes.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.http import Response, parse_responses

GOOD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: fuzz\r\n\r\n"
PARSE_ERROR = frozenset({400})
TOO_BIG = frozenset({400, 413, 414, 431})
UNITS = ["sec", "ms", "us", "ns"]
KNOWN_PATHS = ["/", "/healthz", "/readyz", "/version", "/metrics", "/sync", "/?unit=ms", "/?unit=ns", "/sync?t1=1"]


@dataclass
class Case:
    index: int
    category: str
    data: bytes
    complete: bool  # holds at least one complete request: it must be answered
    allowed: frozenset[int]  # statuses the first response may have
    max_responses: int = 1
    all_ok: bool = False  # every response must be a 200 (pipelined valid requests)
    head: bool = False  # a HEAD request: its response has no body
    half_close: bool = True
    valid_prefix: int = 0  # leading valid requests before malformed bytes (pipelined garbage)

    @property
    def expectation(self) -> str:
        """What the bytes are, as the report counts them: "valid" (every answer a 200), "malformed"
        (bad syntax, or a request the server must refuse: another method, a bad unit, over a
        limit; past `valid_prefix` answers: a 4xx or a close, nothing else), or "either" (RFC 9112
        lets a server accept or reject them, e.g. HTTP/1.2, a bare-LF head, an unknown path's 404;
        never a 5xx)."""
        if self.valid_prefix:
            return "malformed"
        if self.allowed == frozenset({200}):
            return "valid"
        return "either" if 200 in self.allowed else "malformed"


@dataclass
class Outcome:
    case: Case
    responses: list[Response] = field(default_factory=list)
    ending: str = ""  # eof, reset, timeout
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# The generator


def _token(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _request(method: str = "GET", target: str = "/", version: str = "HTTP/1.1",
             headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} {version}".encode("latin-1")]
    for name, value in [("Host", "127.0.0.1")] + (headers or []):
        lines.append(f"{name}: {value}".encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _valid(rng: random.Random) -> tuple[bytes, bool]:
    method = rng.choice(["GET", "GET", "GET", "HEAD"])
    target = rng.choice(KNOWN_PATHS)
    version = rng.choice(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"])
    extra = [(f"X-{_token(rng, 'abcdefgh', 1, 8)}", _token(rng, "abc xyz-=;", 0, 40)) for _ in range(rng.randint(0, 20))]
    return _request(method, target, version, extra), method == "HEAD"


def generate(seed: int, count: int) -> list[Case]:
    """`count` cases, the same ones for the same seed."""
    rng = random.Random(seed)
    cases: list[Case] = []
    makers = [
        (_random_bytes, 12), (_truncated, 10), (_bad_method, 10), (_bad_version, 8), (_header_flood, 8),
        (_bad_header_syntax, 10), (_bad_chunked, 8), (_bad_content_length, 6), (_query, 12), (_paths, 5),
        (_pipelined_garbage, 5), (_pipelined_valid, 3), (_valid_case, 3),
    ]
    population = [maker for maker, weight in makers for _ in range(weight)]
    for index in range(count):
        case = rng.choice(population)(rng, index)
        # One case in ten keeps its connection open instead of half-closing it: the server must
        # then answer and close (or keep alive) on its own.
        case.half_close = rng.random() >= 0.1
        cases.append(case)
    return cases


def _valid_case(rng, index):
    data, head = _valid(rng)
    return Case(index, "valid", data, True, frozenset({200}), head=head, all_ok=True)


def _random_bytes(rng, index):
    data = rng.randbytes(rng.randint(1, 3000))
    if rng.random() < 0.5:
        data += b"\r\n\r\n"
    # Random bytes may stop anywhere (no complete request); whatever answers must be a 4xx.
    return Case(index, "random-bytes", data, False, PARSE_ERROR | TOO_BIG)


def _truncated(rng, index):
    data, _ = _valid(rng)
    cut = rng.randint(1, len(data) - 1)
    if data[:cut].endswith(b"\r\n\r\n"):  # a cut after the head is still a complete request
        cut -= 1
    return Case(index, "truncated", data[:cut], False, PARSE_ERROR)


def _bad_method(rng, index):
    choice = rng.random()
    if choice < 0.3:
        method, allowed = rng.choice(["PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"]), frozenset({405})
    elif choice < 0.5:
        method = rng.choice(["get", "Get", "G ET", "GET\x00", "\x7fGET", "GE\tT", "", " GET", "GET\x85"])
        allowed = PARSE_ERROR
    elif choice < 0.8:
        method = "GET"
        while method in ("GET", "HEAD", "CONNECT"):  # CONNECT opens a tunnel: tested on its own in test_fuzz.py
            method = _token(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-", 1, 20)
        allowed = frozenset({400, 405, 501})
    else:
        method = _token(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 200, 5000)
        allowed = frozenset({400, 405, 414, 431, 501})
    body = b""
    headers = []
    if method in ("PUT", "POST", "PATCH") or rng.random() < 0.2:
        body = rng.randbytes(rng.randint(0, 200))
        headers = [("Content-Length", str(len(body)))]
    return Case(index, "bad-method", _request(method, "/", "HTTP/1.1", headers, body), True, allowed)


def _bad_version(rng, index):
    version = rng.choice([
        "HTTP/0.9", "HTTP/2.0", "HTTP/2", "HTTP/3.0", "HTTP/9.9", "HTTP/1", "HTTP/1.", "HTTP/1.10", "HTTP/11",
        "HTTPS/1.1", "http/1.1", "HTTP/1.1x", "HTTP /1.1", "HTTP/-1.1", "HTTP/1.1\x00", "FTP/1.0", "",
        "HTTP/" + "9" * rng.randint(3, 40), "HTTP/1.2", "HTTP/1.9",
    ])
    allowed = frozenset({200, 400, 505}) if version in ("HTTP/1.2", "HTTP/1.9") else frozenset({400, 505})
    if version == "":  # "GET /" + CRLF: an HTTP/0.9 simple request
        return Case(index, "bad-version", b"GET /\r\n\r\n", True, allowed)
    return Case(index, "bad-version", _request("GET", "/", version), True, allowed)


def _header_flood(rng, index):
    choice = rng.random()
    if choice < 0.3:  # more header fields than the server accepts (100)
        headers = [(f"X-{i}", "y" * rng.randint(0, 20)) for i in range(rng.randint(101, 3000))]
        return Case(index, "header-flood", _request(headers=headers), True, TOO_BIG)
    if choice < 0.55:  # one field over the 16 KiB header limit
        headers = [("X-Big", "a" * rng.randint(16 * 1024 + 1, 60 * 1024))]
        return Case(index, "header-flood", _request(headers=headers), True, TOO_BIG)
    if choice < 0.75:  # a head over 64 KiB
        headers = [(f"X-{i}", "b" * 1000) for i in range(rng.randint(66, 200))]
        return Case(index, "header-flood", _request(headers=headers), True, TOO_BIG)
    if choice < 0.85:  # the same field repeated within the limits: a valid request
        headers = [("X-Same", _token(rng, "abc", 1, 30)) for _ in range(rng.randint(2, 90))]
        return Case(index, "header-flood", _request(headers=headers), True, frozenset({200}), all_ok=True)
    headers = [("Cookie", "c=" + "x" * rng.randint(100, 12_000))]  # big but within the limits
    return Case(index, "header-flood", _request(headers=headers), True, frozenset({200}), all_ok=True)


def _bad_header_syntax(rng, index):
    line = rng.choice([
        b"NoColon", b"Bad Name: x", b"Name : x", b": no-name", b"X-Nul: a\x00b", b"X-Ctl: a\x01b",
        b"X-Bare-CR: a\rb", b"X-Fold: a\r\n folded", b"\x00: x", b"X(y): z", b"X-Del: a\x7fb",
        b"Content-Length: 1\r\nContent-Length: 2", b"Host: a\r\nHost: b", b"X-Header-Only-LF: a\nX-B: b",
    ])
    # Two requests in the list are merely unusual; RFC 9112 leaves a server free to accept or reject them.
    allowed = frozenset({200, 400}) if line in (b"X-Header-Only-LF: a\nX-B: b",) else PARSE_ERROR
    if line == b"Host: a\r\nHost: b":
        allowed = frozenset({200, 400})
    data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + line + b"\r\n\r\n"
    if rng.random() < 0.2:  # the whole head with bare LF line endings
        data = data.replace(b"\r\n", b"\n")
        allowed = allowed | {400}
    return Case(index, "bad-header-syntax", data, True, allowed)


def _bad_chunked(rng, index):
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    choice = rng.random()
    if choice < 0.15:  # a valid chunked body: POST is not allowed
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [rng.randbytes(rng.randint(1, 50)) for _ in range(3)])
        return Case(index, "bad-chunked", head + body + b"0\r\n\r\n", True, frozenset({405}))
    if choice < 0.3:  # a chunk far larger than what follows: incomplete
        return Case(index, "bad-chunked", head + b"fffffff\r\nabc", False, PARSE_ERROR | TOO_BIG)
    bad = rng.choice([
        b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n",
        b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", b"3;\x00ext\r\nabc\r\n0\r\n\r\n", b"3\rabc\r\n0\r\n\r\n",
        b"3\r\nabc0\r\n\r\n", b" 3\r\nabc\r\n0\r\n\r\n", b"0x3\r\nabc\r\n0\r\n\r\n",
    ])
    data = head + bad
    if rng.random() < 0.3:  # Transfer-Encoding and Content-Length together: a smuggling attempt
        data = data.replace(b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n")
    return Case(index, "bad-chunked", data, True, PARSE_ERROR | {405} if b"0x3" in bad else PARSE_ERROR)


def _bad_content_length(rng, index):
    value = rng.choice(["-1", "abc", "1e3", "99999999999999999999999999", "1, 2", "+5", "0x10", " ", "5 5", "\x00"])
    data = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + value.encode("latin-1") + b"\r\n\r\nhello"
    return Case(index, "bad-content-length", data, True, PARSE_ERROR)


def _query(rng, index):
    choice = rng.random()
    if choice < 0.3:  # absurd unit values
        unit = rng.choice([
            "", "SEC", "seconds", "s", "%73ec", "sec%00", "sec\x01", "ms;ns", "-1", "sec sec", "\u00e9",
            _token(rng, "abcdefghijklmnopqrstuvwxyz0123456789%+-._~", 1, 4000),
        ])
        target = "/?unit=" + unit
        if " " in unit or any(ord(c) < 0x20 or ord(c) > 0x7e for c in unit):
            allowed = PARSE_ERROR  # not a valid request target at all
        else:
            allowed = frozenset({400})
        return Case(index, "query", _request(target=target.encode("utf-8").decode("latin-1")), True, allowed)
    if choice < 0.5:  # many parameters, a valid unit last
        params = "&".join(f"{_token(rng, 'abcxyz', 1, 6)}={_token(rng, 'abc123=%', 0, 12)}" for _ in range(rng.randint(1, 400)))
        target = f"/?{params}&unit={rng.choice(UNITS)}"
        allowed = frozenset({200}) if len(target) < 8000 else frozenset({200}) | TOO_BIG
        return Case(index, "query", _request(target=target), True, allowed)
    if choice < 0.65:  # repeated and conflicting units
        units = [rng.choice(UNITS + ["bogus"]) for _ in range(rng.randint(2, 6))]
        target = "/?" + "&".join(f"unit={u}" for u in units)
        allowed = frozenset({400}) if "bogus" in units else frozenset({200})
        return Case(index, "query", _request(target=target), True, allowed)
    if choice < 0.8:  # /sync with absurd t1 values
        t1 = rng.choice(["", "abc", "1.5", "99999999999999999999999", "-99999999999999999999999", "0x10", "%31", "1e9"])
        return Case(index, "query", _request(target="/sync?t1=" + t1), True, frozenset({400}))
    if choice < 0.9:  # a request target over the limits
        target = "/?x=" + "a" * rng.randint(17 * 1024, 70 * 1024)
        return Case(index, "query", _request(target=target), True, TOO_BIG)
    target = "/?" + rng.choice(["&&&", "=", "==", "&=&", "unit", "unit=sec&", "?", "#frag", "unit=sec#x"])
    allowed = frozenset({200, 400})  # odd but harmless: either answer is acceptable, never a 5xx
    return Case(index, "query", _request(target=target), True, allowed)


def _paths(rng, index):
    target = rng.choice([
        "/" + _token(rng, "abcdefghijklmnopqrstuvwxyz0123456789/._-~%", 1, 300), "//", "/..", "/../../etc/passwd",
        "/%00", "/%2e%2e/", "*", "http://example.com/", "/\u00e9", "/healthz/", "/HEALTHZ", "/metrics?x=1",
    ])
    allowed = frozenset({200, 400, 404})
    return Case(index, "path", _request(target=target.encode("utf-8").decode("latin-1")), True, allowed)


def _pipelined_garbage(rng, index):
    garbage = rng.choice([rng.randbytes(rng.randint(1, 500)), b"\x00\x01\x02", b"GET / HTTP/9.9\r\n\r\n",
                          b"FOO BAR BAZ\r\n\r\n", b"\r\n\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"])
    return Case(index, "pipelined-garbage", GOOD + garbage, True, frozenset({200}), max_responses=2, valid_prefix=1)


def _pipelined_valid(rng, index):
    count = rng.randint(2, 30)
    return Case(index, "pipelined-valid", GOOD * count, True, frozenset({200}), max_responses=count, all_ok=True)


# --------------------------------------------------------------------------------------------------
# The runner


async def play(case: Case, port: int, read_timeout: float) -> Outcome:
    outcome = Outcome(case)
    received = bytearray()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), read_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            outcome.ending = "connect-failed"
            outcome.problems.append(f"connect failed: {error!r}")
            return outcome
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, case.data), read_timeout)
            if case.half_close:
                sock.shutdown(socket.SHUT_WR)
        except (OSError, asyncio.TimeoutError):
            pass  # the server may close as soon as it has rejected the head; read what it said
        deadline = time.monotonic() + read_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.ending = "timeout"
                break
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), remaining)
            except asyncio.TimeoutError:
                outcome.ending = "timeout"
                break
            except OSError:
                outcome.ending = "reset"
                break
            if not chunk:
                outcome.ending = "eof"
                break
            received += chunk
            if not case.half_close and case.all_ok:
                # Kept-alive valid requests: done once every response has arrived.
                responses, problem = parse_responses(bytes(received), methods(case), ended_by_eof=False)
                if problem is None and len(responses) >= case.max_responses:
                    outcome.ending = "answered"
                    break
    finally:
        try:  # close with RST: ten thousand connections in TIME_WAIT would only cost ports
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
    judge(outcome, bytes(received))
    return outcome


def methods(case: Case) -> list[str]:
    return ["HEAD", "GET"] if case.head else ["GET"]


def judge(outcome: Outcome, received: bytes) -> None:
    case = outcome.case
    responses, problem = parse_responses(received, methods(case), ended_by_eof=outcome.ending == "eof")
    outcome.responses = responses
    if problem:
        outcome.problems.append(f"malformed response: {problem}")
    if case.complete and not responses:
        outcome.problems.append(f"no response to a complete request (connection ended by {outcome.ending})")
    if responses and responses[0].status not in case.allowed:
        outcome.problems.append(f"first status {responses[0].status}, expected one of {sorted(case.allowed)}")
    for response in responses:
        if response.status >= 500:
            outcome.problems.append(f"server error {response.status}")
        if not case.complete and response.status < 400:
            outcome.problems.append(f"{response.status} to an incomplete request")
    if case.all_ok and any(r.status != 200 for r in responses):
        outcome.problems.append(f"statuses {[r.status for r in responses]}, expected all 200")
    if len(responses) > case.max_responses:
        outcome.problems.append(f"{len(responses)} responses, at most {case.max_responses} expected")
    if case.expectation == "malformed":
        for response in responses[case.valid_prefix:]:
            if not 400 <= response.status < 500:
                outcome.problems.append(f"{response.status} to malformed bytes (a 4xx or a close expected)")
    if outcome.ending == "timeout":
        if case.half_close:
            outcome.problems.append("connection still open after the client half-closed it")
        elif responses and responses[-1].headers.get("connection", "").lower() == "close":
            outcome.problems.append("connection: close, yet the server kept the connection open")
        elif not case.all_ok:
            # A bad request kept open: the server must close it, after its answer or by the request timeout.
            outcome.problems.append("connection neither answered-and-closed nor closed by the request timeout")


async def run_cases(cases: list[Case], port: int, concurrency: int = 64, read_timeout: float = 6.0) -> list[Outcome]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> Outcome:
        async with semaphore:
            return await play(case, port, read_timeout)

    return await asyncio.gather(*(one(case) for case in cases))


def summarize(outcomes: list[Outcome]) -> dict:
    by_category = Counter(o.case.category for o in outcomes)
    statuses = Counter(r.status for o in outcomes for r in o.responses)
    endings = Counter(o.ending for o in outcomes)
    failed = [o for o in outcomes if o.problems]
    return {
        "cases": len(outcomes),
        "requests_bytes": sum(len(o.case.data) for o in outcomes),
        "by_category": dict(sorted(by_category.items())),
        "response_statuses": dict(sorted(statuses.items())),
        "endings": dict(endings),
        "failed_cases": len(failed),
    }


def answer_of(outcome: Outcome) -> str:
    """What the class report counts for one case: the statuses of its answers to the malformed part
    (or to all of it), or how the connection ended without one."""
    responses = outcome.responses[outcome.case.valid_prefix:] if outcome.case.expectation == "malformed" \
        else outcome.responses
    if responses:
        return "+".join(str(r.status) for r in responses[:3]) + ("+..." if len(responses) > 3 else "")
    return f"closed, no answer ({outcome.ending})"


def by_class(outcomes: list[Outcome]) -> dict[str, dict]:
    """Per category: how many cases were malformed, valid or either, and what each kind got."""
    report: dict[str, dict] = {}
    for outcome in outcomes:
        case = outcome.case
        row = report.setdefault(case.category, {"cases": 0, "malformed": 0, "valid": 0, "either": 0,
                                                "got": {"malformed": Counter(), "valid": Counter(), "either": Counter()}})
        row["cases"] += 1
        row[case.expectation] += 1
        answer = answer_of(outcome)
        if case.expectation == "valid" and outcome.responses:
            answer = "all 200" if all(r.status == 200 for r in outcome.responses) else answer
        row["got"][case.expectation][answer] += 1
    for row in report.values():
        row["got"] = {kind: dict(counter.most_common(6)) for kind, counter in row["got"].items() if counter}
    return dict(sorted(report.items()))


def describe(outcome: Outcome) -> str:
    case = outcome.case
    return (f"case {case.index} ({case.category}, half_close={case.half_close}): {outcome.problems}; "
            f"sent {case.data[:200]!r}{'...' if len(case.data) > 200 else ''} ({len(case.data)} bytes); "
            f"got {[r.status for r in outcome.responses]}, ended by {outcome.ending}")
